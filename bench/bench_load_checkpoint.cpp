// bench_load_checkpoint — peak memory (RSS) of loading a checkpoint, relative to its size on disk.
//
//   bench_load_checkpoint [--markdown FILE] [--dir DIR]
//
// Writes a Mixtral-shaped bf16 checkpoint (width 1024, 4 layers, 8 experts of width 3584, vocabulary 32000:
// ~0.86 GB) with config.json, then measures in fresh child processes:
//   - bf16 model type: tensors are used in place from the memory-mapped file (no copy);
//   - fp32 model type: every tensor is converted (2× the bytes), for comparison.
// RSS is read after loading, after a 256-token forward that touches every expert, and as the process peak.
// File pages of the mapping count in RSS once touched, so "in place" approaches 1.0× the file after a forward.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/models.hpp"

namespace {

constexpr int D = 1024, F = 3584, E = 8, K = 2, L = 4, V = 32000, H = 16, G = 4, Dh = 64;

constexpr moe::mixtral_config card_in(moe::weight_format w) {
    return {.vocab_size = V, .model_width = D, .layers = L, .heads = H, .kv_heads = G, .head_dim = Dh,
            .expert_width = F, .experts = E, .top_k = K, .weights = w};
}
constexpr moe::mixtral_config bf16_card = card_in(moe::weight_format::bf16);
constexpr moe::mixtral_config fp32_card = card_in(moe::weight_format::fp32);

double rss_mb() {  // current resident set, from /proc/self/statm
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    statm >> pages >> resident;
    return double(resident) * double(sysconf(_SC_PAGESIZE)) / 1e6;
}

double peak_rss_mb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1e3;  // kilobytes on Linux
}

// Writes config.json and model.safetensors (bf16, random values) into `dir`; returns the file size in bytes.
std::uintmax_t write_checkpoint(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    std::vector<std::pair<std::string, std::vector<std::int64_t>>> tensors = {{"model.embed_tokens.weight", {V, D}},
                                                                              {"model.norm.weight", {D}},
                                                                              {"lm_head.weight", {V, D}}};
    for (int l = 0; l < L; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        tensors.push_back({p + "input_layernorm.weight", {D}});
        tensors.push_back({p + "post_attention_layernorm.weight", {D}});
        tensors.push_back({p + "self_attn.q_proj.weight", {H * Dh, D}});
        tensors.push_back({p + "self_attn.k_proj.weight", {G * Dh, D}});
        tensors.push_back({p + "self_attn.v_proj.weight", {G * Dh, D}});
        tensors.push_back({p + "self_attn.o_proj.weight", {D, H * Dh}});
        tensors.push_back({p + "block_sparse_moe.gate.weight", {E, D}});
        for (int e = 0; e < E; ++e) {
            const std::string q = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
            tensors.push_back({q + "w1.weight", {F, D}});
            tensors.push_back({q + "w3.weight", {F, D}});
            tensors.push_back({q + "w2.weight", {D, F}});
        }
    }
    nlohmann::json header = nlohmann::json::object();
    std::uint64_t offset = 0;
    for (const auto& [name, shape] : tensors) {
        std::uint64_t n = 2;
        for (auto d : shape) n *= static_cast<std::uint64_t>(d);
        header[name] = {{"dtype", "BF16"}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::ofstream out(dir / "model.safetensors", std::ios::binary);
    const std::uint64_t length = text.size();
    out.write(reinterpret_cast<const char*>(&length), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    std::vector<std::uint16_t> chunk(1 << 20);
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    for (std::uint64_t written = 0; written < offset; written += chunk.size() * 2) {
        for (auto& v : chunk) {  // xorshift: small random bf16 values in about ±0.03
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;
            v = moe::bfloat16::from_float((float(state >> 40) / float(1 << 24) - 0.5f) * 0.06f);
        }
        const std::uint64_t bytes = std::min<std::uint64_t>(chunk.size() * 2, offset - written);
        out.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(bytes));
    }
    out.close();
    nlohmann::json config = {{"model_type", "mixtral"}, {"vocab_size", V}, {"hidden_size", D},
                             {"num_hidden_layers", L}, {"num_attention_heads", H}, {"num_key_value_heads", G},
                             {"head_dim", Dh}, {"intermediate_size", F}, {"num_local_experts", E},
                             {"num_experts_per_tok", K}, {"max_position_embeddings", 4096},
                             {"rms_norm_eps", 1e-5}, {"rope_theta", 1e6}, {"tie_word_embeddings", false}};
    std::ofstream(dir / "config.json") << config.dump(2);
    return std::filesystem::file_size(dir / "model.safetensors");
}

// Child process: load with one storage format, run 256 tokens, print "rss_after_load rss_after_forward peak seconds".
template <moe::mixtral_config Card>
int measure(const std::filesystem::path& dir) {
    using model_type = moe::cpu::mixtral<Card>;
    const auto start = std::chrono::steady_clock::now();
    auto model = moe::load_model<model_type>(dir, {.max_positions = 256});
    const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double after_load = rss_mb();
    moe::cpu::thread_pool pool(2);
    auto seq = model.new_sequence(256);
    std::vector<std::int32_t> tokens(256);
    for (int i = 0; i < 256; ++i) tokens[static_cast<std::size_t>(i)] = (i * 7919) % V;
    moe::host_matrix<float> logits(1, V);
    model.forward(tokens, seq, logits.view(), pool);
    std::printf("%.1f %.1f %.1f %.2f\n", after_load, rss_mb(), peak_rss_mb(), load_seconds);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string markdown_path;
    std::filesystem::path dir = std::filesystem::temp_directory_path() / "moe_bench_checkpoint";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--child-bf16" && i + 1 < argc) return measure<bf16_card>(argv[i + 1]);
        if (arg == "--child-fp32" && i + 1 < argc) return measure<fp32_card>(argv[i + 1]);
        if (arg == "--markdown" && i + 1 < argc) markdown_path = argv[++i];
        else if (arg == "--dir" && i + 1 < argc) dir = argv[++i];
        else {
            std::fprintf(stderr, "usage: bench_load_checkpoint [--markdown FILE] [--dir DIR]\n");
            return 2;
        }
    }
    const double file_mb = double(write_checkpoint(dir)) / 1e6;
    std::ostringstream out;
    char line[512];
    std::snprintf(line, sizeof line,
                  "Checkpoint: Mixtral-shaped, bf16, %.0f MB on disk (width %d, %d layers, %d experts of width %d, "
                  "vocabulary %d).\n\n| model storage | load time | RSS after load | RSS after a 256-token forward | "
                  "peak RSS | peak / file size |\n|---|---|---|---|---|---|\n",
                  file_mb, D, L, E, F, V);
    out << line;
    for (const char* mode : {"bf16", "fp32"}) {
        const std::string command = "\"" + std::filesystem::canonical("/proc/self/exe").string() + "\" --child-" +
                                    mode + " \"" + dir.string() + "\"";
        FILE* child = popen(command.c_str(), "r");
        double after_load = 0, after_forward = 0, peak = 0, seconds = 0;
        if (child == nullptr || std::fscanf(child, "%lf %lf %lf %lf", &after_load, &after_forward, &peak, &seconds) != 4) {
            std::fprintf(stderr, "bench_load_checkpoint: the %s child failed\n", mode);
            return 1;
        }
        pclose(child);
        std::snprintf(line, sizeof line, "| %s%s | %.2f s | %.0f MB | %.0f MB | %.0f MB | %.2f× |\n", mode,
                      std::string(mode) == "bf16" ? " (in place)" : " (converted)", seconds, after_load,
                      after_forward, peak, peak / file_mb);
        out << line;
    }
    std::filesystem::remove_all(dir);
    std::fputs(out.str().c_str(), stdout);
    if (!markdown_path.empty()) std::ofstream(markdown_path) << out.str();
    return 0;
}
