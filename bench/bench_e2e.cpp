// bench_e2e — end-to-end prefill and decode speed of whole models on the CPU, plus the machine's roofline figures.
//
//   bench_e2e --write MODEL DIR                 write a random-weight checkpoint (bf16 safetensors + config.json)
//   bench_e2e --run MODEL PRECISION DIR THREADS [--logits FILE]
//                                                load DIR into the model type, touch every page, then time a
//                                                128-token prefill and 64 greedy decode steps; prints one line:
//                                                "prefill_tps decode_tps decode_bytes_per_token prefill_flops_per_token
//                                                 tok0 tok1 ... tok63" (greedy tokens after the prompt);
//                                                --logits writes the fp32 logits after the prompt (raw, V floats);
//                                                stderr's last line: "load load_s first_token_s peak_rss_bytes"
//                                                (open → loaded, open → the prompt's first token, VmHWM at the end)
//   bench_e2e --run-gguf MODEL PRECISION FILE THREADS [--logits FILE]
//                                                the same from a GGUF file (llama.cpp's names and block types), so
//                                                both engines read the same file: q8_0, q4_0, q4_k used in place,
//                                                gguf_mixed keeps each matrix's block type (llama.cpp's Q4_K_M)
//   bench_e2e --run-context MODEL bf16_compute DIR THREADS CONTEXT[,CONTEXT...] [CACHE]
//                                                per context C: a C-token prompt in chunks of 512, then 16 greedy
//                                                decode steps; one line "C prefill_tps decode_tps" per context
//                                                (bench/run_long_context.py runs it next to llama.cpp); CACHE:
//                                                the KV cache format, fp32 (default), or fp16 / q8_0 (mixtral);
//                                                stderr: "memory C cache_bytes computed_bytes rss_growth_bytes"
//   bench_e2e --bandwidth THREADS               read bandwidth (GB/s) of a 1 GiB buffer
//   bench_e2e --fma-peak THREADS                fp32 FMA peak (GFLOP/s): independent 512-bit (or widest) FMAs
//   bench_e2e --bf16-dot-peak THREADS           bf16 dot-product peak (GFLOP/s): independent vdpbf16ps (0 without)
//   bench_e2e --int8-dot-peak THREADS           int8 dot-product peak (GOP/s): independent vpdpbusd (0 without)
//
// MODEL: mixtral (width 1024, 16 layers, 16/4 heads, 8 experts of width 4096, top-2, vocabulary 32000: 1.72 B
// parameters, 0.48 B active) or qwen2 (Qwen2-MoE-shaped: width 1024, 12 layers, 16/16 heads with q/k/v bias, 16
// experts of width 1408, top-4, a gated shared expert of width 5632, vocabulary 32000: 1.15 B, 0.50 B active).
// PRECISION: fp32 (bf16 file converted on load), bf16 / bf16_compute (used in place from the mapping) or q8_0
// (quantized on load to llama.cpp's Q8_0 blocks); from a GGUF file also q4_0, q4_k (mixtral only: qwen2's 1408-wide
// experts are not whole 256-weight K-quant blocks) and gguf_mixed (llama.cpp's K-quant files: Q4_K_M's mixture, and
// for qwen2 the Q5_0 that llama.cpp writes for those 1408-wide matrices).
// bench/run_vs_llama_cpp.py drives this and llama.cpp side by side.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "read_bandwidth.hpp"
#include "moe/models.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__AVX2__) || defined(__FMA__)
#include <immintrin.h>
#endif

namespace {

using clock_type = std::chrono::steady_clock;
constexpr int V = 32000, D = 1024, prompt_tokens = 128, decode_tokens = 64;

constexpr moe::mixtral_config mixtral_card(moe::weight_format w) {
    return {.vocab_size = V, .model_width = D, .layers = 16, .heads = 16, .kv_heads = 4, .head_dim = 64,
            .expert_width = 4096, .experts = 8, .top_k = 2, .weights = w};
}
constexpr moe::qwen2_moe_config qwen2_card(moe::weight_format w) {
    return {.vocab_size = V, .model_width = D, .layers = 12, .heads = 16, .kv_heads = 16, .head_dim = 64,
            .expert_width = 1408, .experts = 16, .top_k = 4, .shared_expert_width = 5632, .norm_topk_prob = false,
            .weights = w};
}
constexpr moe::mixtral_config mixtral_fp32 = mixtral_card(moe::weight_format::fp32);
constexpr moe::mixtral_config mixtral_bf16 = mixtral_card(moe::weight_format::bf16);
constexpr moe::qwen2_moe_config qwen2_fp32 = qwen2_card(moe::weight_format::fp32);
constexpr moe::qwen2_moe_config qwen2_bf16 = qwen2_card(moe::weight_format::bf16);
constexpr moe::mixtral_config mixtral_bf16c = mixtral_card(moe::weight_format::bf16_compute);
constexpr moe::qwen2_moe_config qwen2_bf16c = qwen2_card(moe::weight_format::bf16_compute);
constexpr moe::mixtral_config mixtral_q8 = mixtral_card(moe::weight_format::q8_0);
constexpr moe::qwen2_moe_config qwen2_q8 = qwen2_card(moe::weight_format::q8_0);
constexpr moe::mixtral_config mixtral_q4_0 = mixtral_card(moe::weight_format::q4_0);
constexpr moe::qwen2_moe_config qwen2_q4_0 = qwen2_card(moe::weight_format::q4_0);
constexpr moe::mixtral_config mixtral_q4_k = mixtral_card(moe::weight_format::q4_k);
constexpr moe::mixtral_config mixtral_mixed = mixtral_card(moe::weight_format::gguf_mixed);
constexpr moe::qwen2_moe_config qwen2_mixed = qwen2_card(moe::weight_format::gguf_mixed);

struct tensor_spec {
    std::string name;
    std::vector<std::int64_t> shape;
    float scale;  // uniform in ±scale; 0 = all ones (norm weights)
};

std::vector<tensor_spec> tensors_of(const std::string& model) {
    const bool mixtral = model == "mixtral";
    const int L = mixtral ? 16 : 12, H = 16, G = mixtral ? 4 : 16, Dh = 64, E = mixtral ? 8 : 16,
              F = mixtral ? 4096 : 1408, S = 5632;
    const float w = 0.03f, router = 0.3f;
    std::vector<tensor_spec> t = {{"model.embed_tokens.weight", {V, D}, w}, {"model.norm.weight", {D}, 0},
                                  {"lm_head.weight", {V, D}, w}};
    for (int l = 0; l < L; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        t.push_back({p + "input_layernorm.weight", {D}, 0});
        t.push_back({p + "post_attention_layernorm.weight", {D}, 0});
        t.push_back({p + "self_attn.q_proj.weight", {H * Dh, D}, w});
        t.push_back({p + "self_attn.k_proj.weight", {G * Dh, D}, w});
        t.push_back({p + "self_attn.v_proj.weight", {G * Dh, D}, w});
        t.push_back({p + "self_attn.o_proj.weight", {D, H * Dh}, w});
        if (!mixtral) {
            t.push_back({p + "self_attn.q_proj.bias", {H * Dh}, w});
            t.push_back({p + "self_attn.k_proj.bias", {G * Dh}, w});
            t.push_back({p + "self_attn.v_proj.bias", {G * Dh}, w});
        }
        const std::string m = p + (mixtral ? "block_sparse_moe." : "mlp.");
        t.push_back({m + "gate.weight", {E, D}, router});
        for (int e = 0; e < E; ++e) {
            const std::string q = m + "experts." + std::to_string(e) + ".";
            t.push_back({q + (mixtral ? "w1" : "gate_proj") + ".weight", {F, D}, w});
            t.push_back({q + (mixtral ? "w3" : "up_proj") + ".weight", {F, D}, w});
            t.push_back({q + (mixtral ? "w2" : "down_proj") + ".weight", {D, F}, w});
        }
        if (!mixtral) {
            t.push_back({m + "shared_expert.gate_proj.weight", {S, D}, w});
            t.push_back({m + "shared_expert.up_proj.weight", {S, D}, w});
            t.push_back({m + "shared_expert.down_proj.weight", {D, S}, w});
            t.push_back({m + "shared_expert_gate.weight", {1, D}, router});
        }
    }
    return t;
}

int write_checkpoint(const std::string& model, const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    const auto tensors = tensors_of(model);
    nlohmann::json header = nlohmann::json::object();
    std::uint64_t offset = 0;
    for (const auto& t : tensors) {
        std::uint64_t n = 2;
        for (auto d : t.shape) n *= static_cast<std::uint64_t>(d);
        header[t.name] = {{"dtype", "BF16"}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::ofstream out(dir / "model.safetensors", std::ios::binary);
    const std::uint64_t length = text.size();
    out.write(reinterpret_cast<const char*>(&length), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    std::vector<std::uint16_t> values;
    for (const auto& t : tensors) {
        std::size_t n = 1;
        for (auto d : t.shape) n *= static_cast<std::size_t>(d);
        values.resize(n);
        for (auto& v : values) {
            if (t.scale == 0) {
                v = moe::bfloat16::from_float(1.0f);
                continue;
            }
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;  // xorshift
            v = moe::bfloat16::from_float((float(state >> 40) / float(1 << 24) - 0.5f) * 2.0f * t.scale);
        }
        out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(n * 2));
    }
    out.close();
    nlohmann::json config;
    if (model == "mixtral") {
        config = {{"model_type", "mixtral"}, {"vocab_size", V}, {"hidden_size", D}, {"num_hidden_layers", 16},
                  {"num_attention_heads", 16}, {"num_key_value_heads", 4}, {"head_dim", 64},
                  {"intermediate_size", 4096}, {"num_local_experts", 8}, {"num_experts_per_tok", 2},
                  {"max_position_embeddings", 65536}, {"rms_norm_eps", 1e-5}, {"rope_theta", 1e6},
                  {"tie_word_embeddings", false}};
    } else {
        config = {{"model_type", "qwen2_moe"}, {"vocab_size", V}, {"hidden_size", D}, {"num_hidden_layers", 12},
                  {"num_attention_heads", 16}, {"num_key_value_heads", 16}, {"head_dim", 64},
                  {"intermediate_size", 5632}, {"moe_intermediate_size", 1408},
                  {"shared_expert_intermediate_size", 5632}, {"num_experts", 16}, {"num_experts_per_tok", 4},
                  {"norm_topk_prob", false}, {"decoder_sparse_step", 1}, {"mlp_only_layers", nlohmann::json::array()},
                  {"use_sliding_window", false}, {"max_position_embeddings", 65536}, {"rms_norm_eps", 1e-6},
                  {"rope_theta", 1e6}, {"tie_word_embeddings", false}};
    }
    std::ofstream(dir / "config.json") << config.dump(2);
    std::printf("wrote %s (%.2f GB)\n", (dir / "model.safetensors").c_str(),
                double(std::filesystem::file_size(dir / "model.safetensors")) / 1e9);
    return 0;
}

// Reads one byte of every page of every mapping of `file` in this process (the in-place bf16 weights).
void touch_mapping(const std::filesystem::path& file) {
    std::ifstream maps("/proc/self/maps");
    const std::string target = std::filesystem::canonical(file).string();
    std::string line;
    volatile unsigned char sink = 0;
    while (std::getline(maps, line)) {
        if (line.size() < target.size() || line.compare(line.size() - target.size(), target.size(), target) != 0) continue;
        unsigned long begin = 0, end = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx", &begin, &end) != 2) continue;
        for (unsigned long a = begin; a < end; a += 4096) sink = sink + *reinterpret_cast<const unsigned char*>(a);
    }
}

// A "Vm…:  123456 kB" line of /proc/self/status in bytes; 0 where it cannot be read.
long long status_bytes(const std::string& key) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(key, 0) == 0) return std::atoll(line.c_str() + key.size()) * 1024;
    return 0;
}

// Peak resident memory of this process so far (VmHWM), bytes.
long long peak_rss_bytes() { return status_bytes("VmHWM:"); }

// source: a checkpoint directory or a .gguf file (load_model tells them apart).
template <class Model>
int run(const std::filesystem::path& source, int threads, const std::string& logits_path) {
    // Weights read into transparent huge pages (load_options::memory) unless MOE_BENCH_MAPPED=1 asks for the
    // plain file mapping; either way every page is resident before timing.
    const bool mapped = std::getenv("MOE_BENCH_MAPPED") != nullptr && std::string(std::getenv("MOE_BENCH_MAPPED")) == "1";
    const auto opened = clock_type::now();
    auto model = moe::load_model<Model>(source, {.max_positions = prompt_tokens + decode_tokens + 8,
                                                 .memory = mapped ? moe::io::file_memory::mapped : moe::io::file_memory::huge_pages});
    const double load_seconds = std::chrono::duration<double>(clock_type::now() - opened).count();
    double first_token_seconds = 0;
    moe::cpu::thread_pool pool(threads);
    std::vector<std::int32_t> prompt(prompt_tokens);
    for (int i = 0; i < prompt_tokens; ++i) prompt[static_cast<std::size_t>(i)] = (i * 7919 + 13) % V;
    moe::host_matrix<float> logits(1, V);
    auto argmax = [&] { return std::int32_t(std::max_element(logits.data(), logits.data() + V) - logits.data()); };
    {  // warm-up: a prompt (every expert of every layer is read) and a few decode steps
        auto warm = model.new_sequence(prompt_tokens + 8);
        model.forward(prompt, warm, logits.view(), pool);
        (void)argmax();  // open → first token: loading plus the prompt (mapped: the pages it faults in too)
        first_token_seconds = std::chrono::duration<double>(clock_type::now() - opened).count();
        if (mapped) touch_mapping(std::filesystem::is_directory(source) ? source / "model.safetensors" : source);
        for (int i = 0; i < 4; ++i) {
            const std::int32_t t = argmax();
            model.forward(std::span<const std::int32_t>(&t, 1), warm, logits.view(), pool);
        }
    }
    double prefill = 1e30;
    for (int rep = 0; rep < 2; ++rep) {
        auto seq = model.new_sequence(prompt_tokens);
        const auto start = clock_type::now();
        model.forward(prompt, seq, logits.view(), pool);
        prefill = std::min(prefill, std::chrono::duration<double>(clock_type::now() - start).count());
    }
    auto seq = model.new_sequence(prompt_tokens + decode_tokens);
    model.forward(prompt, seq, logits.view(), pool);
    if (!logits_path.empty()) {
        std::ofstream(logits_path, std::ios::binary)
            .write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(sizeof(float) * V));
    }
    std::vector<std::int32_t> generated;
    const auto start = clock_type::now();
    for (int i = 0; i < decode_tokens; ++i) {
        const std::int32_t t = argmax();
        generated.push_back(t);
        model.forward(std::span<const std::int32_t>(&t, 1), seq, logits.view(), pool);
    }
    const double decode = std::chrono::duration<double>(clock_type::now() - start).count();
    // Bytes one decode step reads: every active weight (one embedding row) in its storage format, routers in fp32
    // (gguf_mixed: counted at Q4_K's rate; run_vs_llama_cpp.py counts a GGUF file's real tensor bytes).
    constexpr double weight_bytes = moe::bytes_per_weight(Model::config.weights);  // q8_0: 34 / 32
    constexpr auto c = std::tuple_element_t<0, typename Model::layers_type>::value_type::feed_forward_type::config;
    const double router_extra = double(Model::layer_count) * c.experts * D * (4.0 - weight_bytes);
    const double decode_bytes = double(Model::active_parameters() - std::int64_t{V - 1} * D) * weight_bytes + router_extra;
    // FLOPs of a prefill token: 2 per active weight except the embedding (the LM head runs for the last token only,
    // so it is left out), attention scores and values over on average half the prompt.
    const double attention = 2.0 * 2.0 * (prompt_tokens / 2.0) * 16 * 64 * Model::layer_count;
    const double prefill_flops = 2.0 * double(Model::active_parameters() - 2 * std::int64_t{V} * D) + attention;
    std::printf("%.3f %.3f %.0f %.0f", prompt_tokens / prefill, decode_tokens / decode, decode_bytes, prefill_flops);
    for (auto t : generated) std::printf(" %d", t);
    std::printf("\n");
    std::fprintf(stderr, "load %.3f %.3f %lld\n", load_seconds, first_token_seconds, peak_rss_bytes());
    return 0;
}

// Long contexts: for each context C, a fresh sequence, a C-token prompt in chunks of 512 (as llama.cpp's n_batch),
// then 16 greedy decode steps at context C … C + 15. Prints "C prefill_tps decode_tps" per context, and on stderr
// "memory C cache_bytes computed_bytes rss_growth_bytes": what the sequence's caches hold after the prompt, C times
// the type's bytes per position, and how much the resident memory grew over the prompt (the warm-up ran a whole
// chunk first, so the working buffers are already at their size).
template <class Model>
int run_context(const std::filesystem::path& source, int threads, const std::vector<std::int64_t>& contexts) {
    constexpr std::int64_t chunk = 512, steps = 16;
    const std::int64_t longest = *std::max_element(contexts.begin(), contexts.end());
    auto model = moe::load_model<Model>(source, {.max_positions = longest + steps + 8,
                                                 .memory = moe::io::file_memory::huge_pages});
    moe::cpu::thread_pool pool(threads);
    moe::host_matrix<float> logits(1, V);
    auto argmax = [&] { return std::int32_t(std::max_element(logits.data(), logits.data() + V) - logits.data()); };
    {  // warm-up: every expert of every layer read once, every working buffer grown to a chunk's size
        std::vector<std::int32_t> prompt(static_cast<std::size_t>(chunk));
        for (std::int64_t i = 0; i < chunk; ++i) prompt[static_cast<std::size_t>(i)] = std::int32_t((i * 7919 + 13) % V);
        auto warm = model.new_sequence(chunk);
        model.forward(prompt, warm, logits.view(), pool);
    }
    for (const std::int64_t context : contexts) {
        std::vector<std::int32_t> prompt(static_cast<std::size_t>(context));
        for (std::int64_t i = 0; i < context; ++i) prompt[static_cast<std::size_t>(i)] = std::int32_t((i * 7919 + 13) % V);
        const long long rss_before = status_bytes("VmRSS:");
        auto seq = model.new_sequence(context + steps);
        auto start = clock_type::now();
        for (std::int64_t at = 0; at < context; at += chunk) {
            model.forward(std::span<const std::int32_t>(prompt).subspan(std::size_t(at), std::size_t(std::min(chunk, context - at))),
                          seq, logits.view(), pool);
        }
        const double prefill = std::chrono::duration<double>(clock_type::now() - start).count();
        std::fprintf(stderr, "memory %lld %lld %lld %lld\n", static_cast<long long>(context),
                     static_cast<long long>(seq.cache_bytes()),
                     static_cast<long long>(context * model.cache_bytes_per_position()),
                     status_bytes("VmRSS:") - rss_before);
        start = clock_type::now();
        for (std::int64_t i = 0; i < steps; ++i) {
            const std::int32_t t = argmax();
            model.forward(std::span<const std::int32_t>(&t, 1), seq, logits.view(), pool);
        }
        const double decode = std::chrono::duration<double>(clock_type::now() - start).count();
        std::printf("%lld %.3f %.3f\n", static_cast<long long>(context), double(context) / prefill, double(steps) / decode);
        std::fflush(stdout);
    }
    return 0;
}

double read_bandwidth(int threads) { return moe_bench::measure_read_bandwidth(threads); }

constexpr long peak_iterations = 20'000'000;

// GFLOP/s of `kernel` (run on `threads` threads at once, each doing flops_per_thread and returning a value that
// keeps its work alive): the best of 3.
template <class Kernel>
double peak_gflops(int threads, double flops_per_thread, Kernel kernel) {
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
        std::vector<float> results(static_cast<std::size_t>(threads));
        const auto start = clock_type::now();
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t) workers.emplace_back([&, t] { results[static_cast<std::size_t>(t)] = kernel(t); });
        for (auto& w : workers) w.join();
        const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
        volatile float sink = results[0];
        (void)sink;
        best = std::max(best, flops_per_thread * threads / seconds / 1e9);
    }
    return best;
}

#if defined(__AVX512F__)
inline float first_and_last_lane(__m512 v) {
    alignas(64) float lanes_out[16];
    _mm512_store_ps(lanes_out, v);
    return lanes_out[0] + lanes_out[15];
}
#endif

// fp32 FMA peak: 12 independent accumulator registers per thread (enough to cover FMA latency × 2 pipes).
double fma_peak(int threads) {
#if defined(__AVX512F__)
    return peak_gflops(threads, 2.0 * 16 * 12 * double(peak_iterations), [](int t) {
        __m512 acc[12];
        for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i + t));
        const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
        for (long it = 0; it < peak_iterations; ++it)
            for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        __m512 s = acc[0];
        for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
        return first_and_last_lane(s);
    });
#else
    return peak_gflops(threads, 2.0 * 8 * 12 * double(peak_iterations), [](int t) {
        float acc[12][8];
        for (int i = 0; i < 12; ++i)
            for (int l = 0; l < 8; ++l) acc[i][l] = float(i + t + l);
        for (long it = 0; it < peak_iterations; ++it)
            for (int i = 0; i < 12; ++i)
                for (int l = 0; l < 8; ++l) acc[i][l] = acc[i][l] * 0.999999f + 1e-7f;
        float s = 0;
        for (int i = 0; i < 12; ++i)
            for (int l = 0; l < 8; ++l) s += acc[i][l];
        return s;
    });
#endif
}

// bf16 dot-product peak (GFLOP/s, 2 per multiply-add): 12 independent vdpbf16ps chains per thread; 0 without
// AVX512-BF16. The ceiling of weight_format::bf16_compute's products, as fma_peak is of the fp32 formats.
double bf16_dot_peak(int threads) {
#if defined(__AVX512BF16__)
    return peak_gflops(threads, 2.0 * 32 * 12 * double(peak_iterations), [](int t) {
        __m512 acc[12];
        for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i + t));
        const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
        const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-4f), _mm512_set1_ps(3e-4f));
        for (long it = 0; it < peak_iterations; ++it)
            for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
        __m512 s = acc[0];
        for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
        return first_and_last_lane(s);
    });
#else
    (void)threads;
    return 0.0;
#endif
}

// int8 dot-product peak (GOP/s, 2 per multiply-add): 12 independent vpdpbusd chains per thread (64 multiply-adds
// each); 0 without AVX-512 VNNI. The ceiling of weight_format::q8_0's prefill products.
double int8_dot_peak(int threads) {
#if defined(__AVX512VNNI__)
    return peak_gflops(threads, 2.0 * 64 * 12 * double(peak_iterations), [](int t) {
        __m512i acc[12];
        for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_epi32(i + t);
        const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
        for (long it = 0; it < peak_iterations; ++it)
            for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
        __m512i s = acc[0];
        for (int i = 1; i < 12; ++i) s = _mm512_add_epi32(s, acc[i]);
        alignas(64) std::int32_t lanes_out[16];
        _mm512_store_si512(lanes_out, s);
        return static_cast<float>(lanes_out[0] + lanes_out[15]);
    });
#else
    (void)threads;
    return 0.0;
#endif
}

int usage() {
    std::fprintf(stderr,
                 "usage: bench_e2e --write MODEL DIR | --run MODEL PRECISION DIR THREADS [--logits FILE] | "
                 "--run-gguf MODEL PRECISION FILE THREADS [--logits FILE] | "
                 "--run-context MODEL bf16_compute DIR THREADS CONTEXT[,CONTEXT...] [fp32|fp16|q8_0] | "
                 "--bandwidth THREADS | --fma-peak THREADS | --bf16-dot-peak THREADS | --int8-dot-peak THREADS   (MODEL: mixtral|qwen2, "
                 "PRECISION: fp32|bf16|bf16_compute|q8_0; from GGUF also q4_0, q4_k (mixtral) and gguf_mixed)\n");
    return 2;
}

}  // namespace

int dispatch(const std::vector<std::string>& a);

int main(int argc, char** argv) {
    try {
        return dispatch(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const std::exception& e) {  // a bad directory, file or option: say so instead of aborting
        std::fprintf(stderr, "bench_e2e: %s\n", e.what());
        return 1;
    }
}

int dispatch(const std::vector<std::string>& a) {
    if (a.size() == 3 && a[0] == "--write") return write_checkpoint(a[1], a[2]);
    if (a.size() == 2 && a[0] == "--bandwidth") return std::printf("%.2f\n", read_bandwidth(std::stoi(a[1]))) < 0;
    if (a.size() == 2 && a[0] == "--fma-peak") return std::printf("%.1f\n", fma_peak(std::stoi(a[1]))) < 0;
    if (a.size() == 2 && a[0] == "--bf16-dot-peak") return std::printf("%.1f\n", bf16_dot_peak(std::stoi(a[1]))) < 0;
    if (a.size() == 2 && a[0] == "--int8-dot-peak") return std::printf("%.1f\n", int8_dot_peak(std::stoi(a[1]))) < 0;
    if ((a.size() == 6 || a.size() == 7) && a[0] == "--run-context") {
        std::vector<std::int64_t> contexts;
        std::stringstream list(a[5]);
        for (std::string item; std::getline(list, item, ',');) {
            const long long c = std::atoll(item.c_str());
            if (c < 1) return usage();
            contexts.push_back(c);
        }
        if (contexts.empty()) return usage();
        const int threads = std::stoi(a[4]);
        const std::string cache = a.size() == 7 ? a[6] : "fp32";
        using moe::kv_cache_format;
        using moe::model::with_kv_cache;
        if (a[2] == "bf16_compute" && cache == "fp32") {
            if (a[1] == "mixtral") return run_context<moe::cpu::mixtral<mixtral_bf16c>>(a[3], threads, contexts);
            if (a[1] == "qwen2") return run_context<moe::cpu::qwen2_moe<qwen2_bf16c>>(a[3], threads, contexts);
        }
        if (a[1] == "mixtral" && a[2] == "bf16_compute" && cache == "fp16") {
            return run_context<moe::cpu::model<with_kv_cache<moe::mixtral<mixtral_bf16c>, kv_cache_format::fp16>>>(
                a[3], threads, contexts);
        }
        if (a[1] == "mixtral" && a[2] == "bf16_compute" && cache == "q8_0") {
            return run_context<moe::cpu::model<with_kv_cache<moe::mixtral<mixtral_bf16c>, kv_cache_format::q8_0>>>(
                a[3], threads, contexts);
        }
    }
    if ((a.size() == 5 || a.size() == 7) && (a[0] == "--run" || a[0] == "--run-gguf")) {
        const std::string logits = a.size() == 7 && a[5] == "--logits" ? a[6] : "";
        const int threads = std::stoi(a[4]);
        const std::filesystem::path dir = a[3];
        // The 4-bit formats are run from GGUF files only: the point is the file llama.cpp's quantizer made.
        if (a[0] == "--run-gguf" && !std::filesystem::is_regular_file(dir)) {
            std::fprintf(stderr, "bench_e2e: %s is not a GGUF file\n", dir.c_str());
            return 2;
        }
        if (a[0] == "--run-gguf") {
            if (a[1] == "mixtral" && a[2] == "q4_0") return run<moe::cpu::mixtral<mixtral_q4_0>>(dir, threads, logits);
            if (a[1] == "qwen2" && a[2] == "q4_0") return run<moe::cpu::qwen2_moe<qwen2_q4_0>>(dir, threads, logits);
            if (a[1] == "mixtral" && a[2] == "q4_k") return run<moe::cpu::mixtral<mixtral_q4_k>>(dir, threads, logits);
            if (a[1] == "mixtral" && a[2] == "gguf_mixed") return run<moe::cpu::mixtral<mixtral_mixed>>(dir, threads, logits);
            if (a[1] == "qwen2" && a[2] == "gguf_mixed") return run<moe::cpu::qwen2_moe<qwen2_mixed>>(dir, threads, logits);
        }
        if (a[1] == "mixtral" && a[2] == "fp32") return run<moe::cpu::mixtral<mixtral_fp32>>(dir, threads, logits);
        if (a[1] == "mixtral" && a[2] == "bf16") return run<moe::cpu::mixtral<mixtral_bf16>>(dir, threads, logits);
        if (a[1] == "qwen2" && a[2] == "fp32") return run<moe::cpu::qwen2_moe<qwen2_fp32>>(dir, threads, logits);
        if (a[1] == "qwen2" && a[2] == "bf16") return run<moe::cpu::qwen2_moe<qwen2_bf16>>(dir, threads, logits);
        if (a[1] == "mixtral" && a[2] == "bf16_compute") return run<moe::cpu::mixtral<mixtral_bf16c>>(dir, threads, logits);
        if (a[1] == "qwen2" && a[2] == "bf16_compute") return run<moe::cpu::qwen2_moe<qwen2_bf16c>>(dir, threads, logits);
        if (a[1] == "mixtral" && a[2] == "q8_0") return run<moe::cpu::mixtral<mixtral_q8>>(dir, threads, logits);
        if (a[1] == "qwen2" && a[2] == "q8_0") return run<moe::cpu::qwen2_moe<qwen2_q8>>(dir, threads, logits);
    }
    return usage();
}
