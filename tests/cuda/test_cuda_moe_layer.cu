// tests/cuda/test_cuda_moe_layer.cu — moe::cuda::moe_layer<C> against moe::cpu::moe_layer<C> (the oracle) on the same
// weights and inputs, for the configurations of test_configs.hpp at several token counts; determinism; routing and
// grouping identical to the CPU's; invalid launches refused before launch.
//
// Tolerances (y = layer output, Δ = GPU − CPU):
//   fp32 weights (SIMT, fp32 products): max|Δ| ≤ 2e-5 · max|y|. Both sides sum ≤ 256 fp32 products per dot in
//     different orders: rounding ≈ √n · 2⁻²⁴ ≈ 1e-6 relative, so 2e-5 leaves 20× margin.
//   bf16 / fp16 weights (tensor cores, fp32 accumulation): the GPU rounds x and the SwiGLU activation to the weight
//     type before each MMA; the CPU keeps them fp32 against the same bf16 weights. Each rounding has relative error
//     ≤ u = 2⁻⁹ (bf16; fp16 2⁻¹¹), of random sign, so a dot's relative error has RMS ≈ u/√3 ≈ 1.1e-3 per stage,
//     ≈ 1.6e-3 for the two stages. Bounds: RMS(Δ) ≤ 5e-3 · RMS(y) (3×) and max|Δ| ≤ 2e-2 · max|y| (≈ 5σ of a
//     typical element, itself ≈ max|y|/3). A wrong expert, a dropped shared expert or a missing row is O(1).
// Routing: router logits come from a different fp32 summation order than Eigen's (|Δ| ≈ 1e-7), so a token whose
// k-th and (k+1)-th scores are that close may legitimately pick a different expert. Every token must have the CPU's
// expert ids, unless moe::route_token applied on the host to the GPU's own logits gives exactly the GPU's ids (the
// difference is then the logits' last bit, not the routing); such tokens (expected: none) are counted, limited to
// 1%, and left out of the output comparison.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "cpu_oracle.hpp"
#include "gpu_test.hpp"
#include "moe/cuda.hpp"

using namespace moe_gpu_test;

namespace {

template <moe::moe_layer_config C>
void check_layer(std::int64_t tokens, std::uint64_t seed, float routed_scaling_factor = 1.0f) {
    constexpr int D = C.model_width, K = C.top_k, E = C.experts;
    const auto weights = moe::owned_moe_layer_weights<C>::random(seed);
    const moe::router_runtime runtime{.routed_scaling_factor = routed_scaling_factor};
    std::vector<float> x(static_cast<std::size_t>(tokens * D));
    std::mt19937_64 rng(seed + 1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : x) v = normal(rng);

    const cpu_layer_result cpu = run_cpu_layer<C>(weights.view(), runtime, x, tokens);

    moe::cuda::moe_layer<C> layer(weights.view(), runtime);
    moe::cuda::stream stream;
    moe::cuda::device_buffer<float> d_x{std::span<const float>(x)}, d_y(x.size());
    const std::size_t bytes = layer.get_workspace_size(tokens);
    moe::cuda::device_buffer<std::byte> workspace(bytes);
    layer.forward(d_x.data(), d_y.data(), tokens, workspace.data(), bytes, stream);
    std::vector<float> y(x.size());
    d_y.download(y.data(), y.size(), stream);
    stream.synchronize();
    const moe::cuda::moe_routing_result gpu = layer.last_routing(stream);

    const std::string where = std::string(" [E=") + std::to_string(E) + " K=" + std::to_string(K) +
                              " T=" + std::to_string(tokens) + "]";
    // Routing.
    std::vector<bool> same_experts(static_cast<std::size_t>(tokens), true);
    int explained = 0;
    for (std::int64_t t = 0; t < tokens; ++t) {
        const bool same = std::equal(&gpu.expert_ids[t * K], &gpu.expert_ids[t * K] + K, &cpu.expert_ids[t * K]);
        if (same) continue;
        same_experts[static_cast<std::size_t>(t)] = false;
        int ids[K];
        float w[K];
        moe::route_token<C.router, E, K>(&gpu.logits[t * E], weights.selection_bias.data(), routed_scaling_factor, ids, w);
        const bool logits_explain = std::equal(ids, ids + K, &gpu.expert_ids[t * K]);
        GPU_CHECK(logits_explain, "token " + std::to_string(t) + ": GPU experts differ from the CPU's and are not "
                                  "what route_token gives on the GPU logits" + where);
        explained += logits_explain;
    }
    GPU_CHECK(explained * 100 <= tokens, std::to_string(explained) + " tokens routed differently" + where);
    if (explained) std::printf("  note: %d token(s) at a near-tie routed differently (logits' last bit)%s\n", explained, where.c_str());
    for (std::int64_t t = 0; t < tokens; ++t) {
        if (!same_experts[static_cast<std::size_t>(t)]) continue;
        for (int j = 0; j < K; ++j) {
            const float a = gpu.weights[t * K + j], b = cpu.weights[t * K + j];
            GPU_CHECK(std::fabs(a - b) <= 1e-5f * std::fabs(b) + 1e-7f, "routing weight" + where);
        }
    }
    if (explained == 0) {
        bool rows_equal = true;
        for (std::size_t p = 0; p < cpu.grouped_row.size(); ++p) rows_equal &= gpu.grouped_row[p] == cpu.grouped_row[p];
        GPU_CHECK(rows_equal, "grouped rows differ from routing_plan::group_by_expert" + where);
        GPU_CHECK(std::equal(gpu.expert_offset.begin(), gpu.expert_offset.end(), cpu.expert_offset.begin(),
                             cpu.expert_offset.end()),
                  "expert_offset differs from routing_plan::expert_offset" + where);
        GPU_CHECK(layer.tokens_per_expert(stream) == cpu.tokens_per_expert, "tokens_per_expert" + where);
    }

    // Output.
    std::vector<float> a, b;
    for (std::int64_t t = 0; t < tokens; ++t) {
        if (!same_experts[static_cast<std::size_t>(t)]) continue;
        a.insert(a.end(), &y[t * D], &y[t * D] + D);
        b.insert(b.end(), &cpu.y[t * D], &cpu.y[t * D] + D);
    }
    const error_stats s = compare(a, b);
    const bool fp32 = C.weights == moe::weight_format::fp32;
    const double max_bound = (fp32 ? 2e-5 : 2e-2) * s.max_ref, rms_bound = (fp32 ? 2e-5 : 5e-3) * s.rms_ref;
    std::printf("  %s max|Δ| %.3g (bound %.3g), RMS(Δ) %.3g (bound %.3g)\n", where.c_str(), s.max_abs, max_bound,
                s.rms, rms_bound);
    GPU_CHECK(s.max_abs <= max_bound && s.rms <= rms_bound, "output differs from moe::cpu::moe_layer" + where);

    // Determinism: a second run gives the same bits.
    moe::cuda::device_buffer<float> d_y2(x.size());
    layer.forward(d_x.data(), d_y2.data(), tokens, workspace.data(), bytes, stream);
    std::vector<float> y2(x.size());
    d_y2.download(y2.data(), y2.size(), stream);
    stream.synchronize();
    GPU_CHECK(std::memcmp(y.data(), y2.data(), y.size() * sizeof(float)) == 0, "two runs differ" + where);
}

template <moe::moe_layer_config C>
void check_token_counts(std::uint64_t seed, float scale = 1.0f) {
    for (std::int64_t tokens : {1, 3, 64, 300}) check_layer<C>(tokens, seed + static_cast<std::uint64_t>(tokens), scale);
}

}  // namespace

GPU_TEST(qwen15_moe_60_experts_top4_gated_shared_bf16) { check_token_counts<qwen15_moe_like>(100); }
GPU_TEST(deepseek_v3_256_experts_8_groups_top8_bias_bf16) { check_token_counts<deepseek_v3_like>(200, 2.5f); }
GPU_TEST(experts_384_top16_fp16) { check_token_counts<experts384_top16>(300); }
GPU_TEST(deepseek_v2_group_limited_two_shared_bf16) { check_token_counts<deepseek_v2_like>(400); }
GPU_TEST(mixtral_fp32_simt) { check_token_counts<mixtral_fp32>(500); }

GPU_TEST(zero_tokens_is_a_no_op) {
    const auto weights = moe::owned_moe_layer_weights<mixtral_fp32>::random(1);
    moe::cuda::moe_layer<mixtral_fp32> layer(weights.view());
    layer.forward(nullptr, nullptr, 0, nullptr, 0, nullptr);
    GPU_CHECK(layer.tokens_per_expert() == std::vector<std::int32_t>(8, 0), "no tokens, no routing");
}

GPU_TEST(invalid_launches_are_refused_before_launch) {
    using layer_t = moe::cuda::moe_layer<qwen15_moe_like>;
    const auto weights = moe::owned_moe_layer_weights<qwen15_moe_like>::random(2);
    layer_t layer(weights.view());
    const std::int64_t tokens = 4;
    moe::cuda::device_buffer<float> x(tokens * 128 + 4), y(tokens * 128);
    const std::size_t bytes = layer_t::get_workspace_size(tokens);
    moe::cuda::device_buffer<std::byte> workspace(bytes + 256);
    auto refused = [&](const float* xp, void* ws, std::size_t size, const char* expect) {
        try {
            layer.forward(xp, y.data(), tokens, ws, size, nullptr);
        } catch (const moe::cuda::launch_error& e) {
            return std::string(e.what()).find(expect) != std::string::npos;
        }
        return false;
    };
    GPU_CHECK(refused(x.data(), workspace.data(), bytes - 1, "workspace too small"), "small workspace");
    GPU_CHECK(refused(x.data(), workspace.data() + 8, bytes, "aligned"), "misaligned workspace");
    GPU_CHECK(refused(x.data() + 1, workspace.data(), bytes, "16-byte aligned"), "misaligned x");
    GPU_CHECK(layer_t::can_implement(x.data(), y.data(), tokens, workspace.data(), bytes).empty(), "valid launch");
}
