// next_token — loads a Hugging Face checkpoint directory and prints the most likely next tokens of a prompt.
//
//   next_token CHECKPOINT_DIR TOKEN_ID [TOKEN_ID ...] [--top N] [--threads N]
//   next_token MODEL.gguf TOKEN_ID [TOKEN_ID ...]          (a llama.cpp GGUF file: its metadata is the config)
//
// The model type is chosen at compile time: the program tries the types of `known_models` in order and runs the
// first whose compile-time configuration matches the directory's config.json. This repository's build generates
// them from every checkpoint under models/ and tests/data (plus the released checkpoints' types); for your own
// checkpoints, `moe_add_model_executable(my_next SOURCE next_token CHECKPOINTS /models/a ...)` (docs/integration.md)
// or print one type with `moe_card CHECKPOINT_DIR` and add it below.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <numeric>
#include <string>
#include <string_view>
#include <algorithm>
#include <vector>

#include "moe/models.hpp"
#include "moe/models/cpu.hpp"

#ifdef MOE_MODELS_HEADER
#include MOE_MODELS_HEADER  // moe_models::checkpoint_models, written by moe_card
#endif

namespace {

#ifdef MOE_MODELS_HEADER
using known_models = moe_models::checkpoint_models;
#else
using known_models = moe::join_model_lists<moe::model_list<moe::cpu::tiny_reasoner>, moe::cpu::released_models>;
#endif

struct options {
    std::filesystem::path directory;
    std::vector<std::int32_t> tokens;
    int top = 5;
    int threads = 2;
};

template <class Model>
void run(const options& opt) {
    std::printf("model type matches %s: %s family, %d layers, vocabulary %lld\n",
                moe::io::is_gguf_file(opt.directory) ? "the GGUF metadata" : "config.json",
                std::string(moe::name_of(Model::config.family)).c_str(), Model::layer_count,
                static_cast<long long>(Model::V));
    std::printf("parameters: %.3f M total, %.3f M active per token\n", Model::parameters() / 1e6,
                Model::active_parameters() / 1e6);
    auto model = moe::load_model<Model>(opt.directory);
    moe::cpu::thread_pool pool(opt.threads);
    auto sequence = model.new_sequence(static_cast<std::int64_t>(opt.tokens.size()));
    moe::host_matrix<float> logits(1, Model::V);  // the last position only
    model.forward(opt.tokens, sequence, logits.view(), pool);

    // Softmax in double for the printed probabilities.
    const float* l = logits.row(0);
    const double max_logit = *std::max_element(l, l + Model::V);
    double z = 0;
    for (std::int64_t v = 0; v < Model::V; ++v) z += std::exp(double(l[v]) - max_logit);
    std::vector<std::int32_t> order(static_cast<std::size_t>(Model::V));
    std::iota(order.begin(), order.end(), 0);
    const auto top = std::min<std::size_t>(static_cast<std::size_t>(opt.top), order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(top), order.end(),
                      [&](std::int32_t a, std::int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    std::printf("next token after %zu prompt tokens:\n", opt.tokens.size());
    for (std::size_t i = 0; i < top; ++i) {
        std::printf("  %6d  p = %.4f  logit = %.4f\n", order[i], std::exp(double(l[order[i]]) - max_logit) / z,
                    double(l[order[i]]));
    }
}


[[noreturn]] void usage(const char* problem) {
    std::fprintf(stderr, "next_token: %s\nusage: next_token CHECKPOINT_DIR TOKEN_ID [TOKEN_ID ...] [--top N] [--threads N]\n",
                 problem);
    std::exit(2);
}

long parse_number(const char* text, const char* what, long low, long high) {
    char* end = nullptr;
    const long n = std::strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || n < low || n > high) {
        usage((std::string(what) + " must be an integer in [" + std::to_string(low) + ", " + std::to_string(high) +
               "], got '" + text + "'").c_str());
    }
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--top" || arg == "--threads") {
            if (i + 1 >= argc) usage("a flag needs a value");
            const int value = static_cast<int>(parse_number(argv[i + 1], argv[i], 1, 1024));
            (arg == "--top" ? opt.top : opt.threads) = value;
            ++i;
        } else if (opt.directory.empty()) {
            opt.directory = argv[i];
        } else {
            opt.tokens.push_back(static_cast<std::int32_t>(parse_number(argv[i], "a token id", 0, 1L << 30)));
        }
    }
    if (opt.directory.empty() || opt.tokens.empty()) usage("give a checkpoint directory and at least one token id");
    try {
        // A GGUF file is its own config (its metadata); a directory has config.json.
        const bool gguf = moe::io::is_gguf_file(opt.directory);
        const std::filesystem::path config = gguf ? opt.directory : opt.directory / "config.json";
        if (gguf) (void)moe::io::gguf_file(config);  // a missing or malformed file: one error, not one per type
        else (void)moe::hf_config(config);
        std::string mismatches;
        if (!moe::with_matching_model(known_models{}, config,
                                      [&]<class Model>() { run<Model>(opt); }, mismatches)) {
            std::fprintf(stderr, "next_token: no compiled model type matches %s:%s\n"
                         "(moe_card %s prints its type; moe_add_model_executable builds for your checkpoints, docs/integration.md)\n", opt.directory.c_str(),
                         mismatches.c_str(), opt.directory.c_str());
            return 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "next_token: %s\n", e.what());
        return 1;
    }
    return 0;
}
