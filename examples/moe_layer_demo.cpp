// moe_layer_demo — two MoE layers written as types, run on the CPU: routing statistics and timing.
//
//   moe_layer_demo [--tokens N] [--threads N]
//
// A Mixtral-shaped layer (scaled to width 1024) and a DeepSeek-V3-shaped layer (64 experts in 8 groups, top-6,
// 2 shared experts, sigmoid router with a selection bias), random weights, random tokens.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>

#include "moe/cpu.hpp"

namespace {

// The model card, as a type.
using mixtral_scaled_layer = moe::cpu::moe_layer<moe::moe_layer_config{
    .model_width = 1024,
    .expert_width = 3584,
    .experts = 8,
    .top_k = 2,
    .router = moe::routers::mixtral,
    .weights = moe::weight_format::bf16,
}>;

using deepseek_v3_scaled_layer = moe::cpu::moe_layer<moe::moe_layer_config{
    .model_width = 512,
    .expert_width = 256,
    .experts = 64,
    .top_k = 6,
    .shared_experts = 2,
    .router = moe::routers::deepseek_v3(/*groups=*/8, /*top_k_groups=*/4),
    .weights = moe::weight_format::bf16,
}>;

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

template <class Layer>
void run(const char* title, int tokens, moe::cpu::thread_pool& pool, float routed_scaling_factor) {
    constexpr auto C = Layer::config;
    std::printf("\n== %s ==\n", title);
    std::printf("width %d, expert width %d, %d experts, top-%d, %d shared, weights %s\n", C.model_width,
                C.expert_width, C.experts, C.top_k, C.shared_experts, std::string(moe::name_of(C.weights)).c_str());
    std::printf("parameters: %.1f M total, %.1f M active per token (%.0f%%)\n", C.total_parameters() / 1e6,
                C.active_parameters() / 1e6, 100.0 * double(C.active_parameters()) / double(C.total_parameters()));

    auto start = std::chrono::steady_clock::now();
    const auto weights = moe::owned_moe_layer_weights<C>::random(2026);
    Layer layer(weights.view(), moe::router_runtime{.routed_scaling_factor = routed_scaling_factor});
    std::printf("random weights: %.2f s\n", seconds_since(start));

    moe::host_matrix<float> x(tokens, C.model_width), y(tokens, C.model_width);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (std::int64_t i = 0; i < x.rows() * x.cols(); ++i) x.data()[i] = normal(rng);

    layer.forward(x.view(), y.view(), pool);  // warm-up (allocates workspaces)
    start = std::chrono::steady_clock::now();
    layer.forward(x.view(), y.view(), pool);
    const double batch_seconds = seconds_since(start);

    const auto counts = layer.tokens_per_expert();
    const int most = *std::max_element(counts.begin(), counts.end());
    const double mean = double(tokens) * C.top_k / C.experts;
    std::printf("routing of %d tokens: mean %.1f tokens per expert, max/mean %.2f, %d idle experts\n", tokens, mean,
                most / mean, int(std::count(counts.begin(), counts.end(), 0)));
    if (C.experts <= 16) {
        for (int e = 0; e < C.experts; ++e) {
            const int bar = most > 0 ? counts[e] * 40 / most : 0;
            std::printf("  expert %2d %5d %s\n", e, counts[e], std::string(static_cast<std::size_t>(bar), '#').c_str());
        }
    } else {
        for (int e = 0; e < C.experts; ++e) {
            if (e % 16 == 0) std::printf("  experts %3d-%3d:", e, std::min(e + 15, C.experts - 1));
            std::printf(" %3d", counts[e]);
            if (e % 16 == 15 || e + 1 == C.experts) std::printf("\n");
        }
    }
    const double flops = 2.0 * double(C.active_parameters()) * tokens;
    std::printf("forward, %d tokens: %.2f ms  (%.0f tokens/s, %.1f GFLOP/s)\n", tokens, batch_seconds * 1e3,
                tokens / batch_seconds, flops / batch_seconds / 1e9);

    // One token at a time (decode): average over a few different tokens.
    constexpr int decode_steps = 16;
    start = std::chrono::steady_clock::now();
    for (int t = 0; t < decode_steps; ++t) {
        layer.forward(moe::matrix_view<const float>{x.row(t % tokens), 1, C.model_width},
                      moe::matrix_view<float>{y.row(0), 1, C.model_width}, pool);
    }
    const double step_seconds = seconds_since(start) / decode_steps;
    std::printf("forward, 1 token:   %.3f ms  (%.0f tokens/s)\n", step_seconds * 1e3, 1.0 / step_seconds);
}

int parse_positive(std::string_view flag, const char* value) {
    char* end = nullptr;
    const long n = value ? std::strtol(value, &end, 10) : 0;
    if (!value || *end != '\0' || n < 1 || n > 1'000'000) {
        std::fprintf(stderr, "moe_layer_demo: %s needs a positive integer, got '%s'\n", std::string(flag).c_str(),
                     value ? value : "");
        std::exit(2);
    }
    return static_cast<int>(n);
}

}  // namespace

int main(int argc, char** argv) {
    int tokens = 128;
    int threads = 2;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--tokens") tokens = parse_positive(arg, i + 1 < argc ? argv[++i] : nullptr);
        else if (arg == "--threads") threads = parse_positive(arg, i + 1 < argc ? argv[++i] : nullptr);
        else {
            std::fprintf(stderr, "usage: moe_layer_demo [--tokens N] [--threads N]\n");
            return 2;
        }
    }
    std::printf("moe %d.%d.%d — MoE layers as types, CPU backend, %d thread(s)\n", moe::version_major,
                moe::version_minor, moe::version_patch, threads);
    moe::cpu::thread_pool pool(threads);
    run<mixtral_scaled_layer>("Mixtral-shaped layer (scaled)", tokens, pool, 1.0f);
    run<deepseek_v3_scaled_layer>("DeepSeek-V3-shaped layer (scaled)", tokens, pool, 2.5f);
    return 0;
}
