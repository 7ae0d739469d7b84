// tests/cuda/test_cuda_ops.cu — RMSNorm, rotary embedding, causal attention over a KV cache, and sampling on the GPU
// against the CPU path on the same inputs.
//   rms_norm:  moe::cpu::rms_norm_row (double mean of squares on both sides; device sqrt/div are IEEE):
//              |Δ| ≤ 1e-6 · (|y| + 1).
//   rotary:    moe::cpu::rotary_embedding tables + rope_rotate_half / rope_interleaved; device cosf/sinf differ from
//              glibc by ≤ 2 ulp: |Δ| ≤ 1e-5 · (|x| + 1) at positions up to 5000.
//   attention: a double-precision loop (transformers' eager order); fp32 dots of ≤ 128 terms and a softmax over
//              ≤ 300 keys: |Δ| ≤ 1e-4 · max|out| (GQA 8/2 heads prefill and decode; MLA-like G = 1, Dk ≠ Dv);
//              and at the documented key limit (max_attention_keys: 48 KiB of scores, past the default shared memory
//              of a block: the launch needs the opt-in), same bound: the fp32 rounding of sums over 12 288 keys of
//              weight ≈ 1/12 288 each is ≈ 1e-7 absolute, ≈ 40× inside it for outputs of size ≈ 0.03.
//   sampling:  greedy and top-k 1 give the arg-max (ties: lowest id); for a top-k / top-p / temperature chain the
//              drawn token equals a double-precision host chain for uniforms u not within 1e-4 of a boundary.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "gpu_test.hpp"
#include "moe/cpu/rms_norm.hpp"
#include "moe/cpu/rotary.hpp"
#include "moe/cuda/kernels/attention.hpp"
#include "moe/cuda/kernels/rms_norm.hpp"
#include "moe/cuda/kernels/rotary.hpp"
#include "moe/cuda/kernels/sampling.hpp"

namespace {

std::vector<float> gaussian(std::size_t n, std::uint64_t seed, float sigma = 1.0f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

}  // namespace

GPU_TEST(rms_norm_matches_cpu_bf16_weight) {
    const int rows = 37, n = 1000;
    const auto x = gaussian(std::size_t(rows) * n, 1, 3.0f);
    std::vector<moe::bfloat16> w(n);
    for (int i = 0; i < n; ++i) w[i] = moe::bfloat16(1.0f + 0.001f * float(i % 17));
    std::vector<float> expected(x.size());
    for (int r = 0; r < rows; ++r) moe::cpu::rms_norm_row(&x[std::size_t(r) * n], w.data(), n, 1e-6f, &expected[std::size_t(r) * n]);
    moe::cuda::device_buffer<float> d_x{std::span<const float>(x)}, d_y(x.size());
    moe::cuda::device_buffer<__nv_bfloat16> d_w(n);
    MOE_CUDA_CHECK(cudaMemcpy(d_w.data(), w.data(), n * 2, cudaMemcpyHostToDevice));
    moe::cuda::rms_norm(d_x.data(), d_w.data(), rows, n, 1e-6f, d_y.data(), nullptr);
    const auto y = d_y.to_host();
    int bad = 0;
    for (std::size_t i = 0; i < y.size(); ++i) bad += !(std::fabs(y[i] - expected[i]) <= 1e-6f * (std::fabs(expected[i]) + 1.0f));
    GPU_CHECK(bad == 0, std::to_string(bad) + " elements differ");
}

GPU_TEST(rotary_rotate_half_and_interleaved_match_cpu) {
    const int tokens = 9, heads = 4, dim = 64;
    const std::int64_t first_position = 4990;
    moe::rope_parameters rope{};
    rope.theta = 10000.0;
    const moe::cpu::rotary_embedding table(rope, dim);
    moe::host_matrix<float> cos, sin;
    table.tables(first_position, tokens, cos, sin);
    for (int pairing = 0; pairing < 2; ++pairing) {
        auto x = gaussian(std::size_t(tokens) * heads * dim, 2 + pairing);
        auto expected = x;
        for (int t = 0; t < tokens; ++t)
            for (int h = 0; h < heads; ++h) {
                float* head = &expected[(std::size_t(t) * heads + h) * dim];
                if (pairing == 0) moe::cpu::rope_rotate_half(head, cos.row(t), sin.row(t), dim);
                else moe::cpu::rope_interleaved(head, cos.row(t), sin.row(t), dim);
            }
        moe::cuda::device_buffer<float> d_x{std::span<const float>(x)};
        moe::cuda::device_buffer<float> inv{std::span<const float>(table.inverse_frequencies())};
        if (pairing == 0) {
            moe::cuda::apply_rotary<moe::cuda::rope_pairing::rotate_half>(d_x.data(), tokens, heads, heads * dim, 0, dim, dim,
                                                                           inv.data(), table.attention_factor(), first_position, nullptr);
        } else {
            moe::cuda::apply_rotary<moe::cuda::rope_pairing::interleaved>(d_x.data(), tokens, heads, heads * dim, 0, dim, dim,
                                                                           inv.data(), table.attention_factor(), first_position, nullptr);
        }
        const auto y = d_x.to_host();
        int bad = 0;
        for (std::size_t i = 0; i < y.size(); ++i) bad += !(std::fabs(y[i] - expected[i]) <= 1e-5f * (std::fabs(x[i]) + 1.0f));
        GPU_CHECK(bad == 0, std::to_string(bad) + " elements differ (pairing " + std::to_string(pairing) + ")");
    }
}

namespace {
void check_attention(moe::cuda::attention_shape shape, int cached, int tokens, std::uint64_t seed) {
    const int L = cached + tokens, H = shape.heads, G = shape.kv_heads, Dk = shape.key_dim, Dv = shape.value_dim;
    const int key_width = G * Dk, value_width = G * Dv, width = std::max(key_width, value_width);
    const auto q = gaussian(std::size_t(tokens) * H * Dk, seed);
    auto k = gaussian(std::size_t(L) * width, seed + 1), v = gaussian(std::size_t(L) * width, seed + 2);
    const float scale = 1.0f / std::sqrt(float(Dk));
    // Fill the cache in two appends (prefix, then the new tokens), as prefill → decode does.
    moe::cuda::device_kv_cache cache(L + 4, width);
    moe::cuda::device_buffer<float> d_k{std::span<const float>(k)}, d_v{std::span<const float>(v)};
    cache.append(d_k.data(), d_v.data(), cached, nullptr);
    cache.append(d_k.data() + std::size_t(cached) * width, d_v.data() + std::size_t(cached) * width, tokens, nullptr);
    moe::cuda::device_buffer<float> d_q{std::span<const float>(q)}, d_out(std::size_t(tokens) * H * Dv);
    moe::cuda::causal_attention(d_q.data(), cache.keys(), width, cache.values(), width, shape, tokens,
                                static_cast<int>(cache.size()), scale, d_out.data(), nullptr);
    const auto out = d_out.to_host();
    std::vector<double> expected(out.size());
    for (int t = 0; t < tokens; ++t)
        for (int h = 0; h < H; ++h) {
            const int g = h / (H / G), visible = L - tokens + t + 1;
            std::vector<double> s(visible);
            double m = -1e300, z = 0;
            for (int j = 0; j < visible; ++j) {
                double dot = 0;
                for (int d = 0; d < Dk; ++d) dot += double(q[(std::size_t(t) * H + h) * Dk + d]) * k[std::size_t(j) * width + g * Dk + d];
                s[j] = dot * scale;
                m = std::max(m, s[j]);
            }
            for (double& x : s) z += (x = std::exp(x - m));
            for (int d = 0; d < Dv; ++d) {
                double acc = 0;
                for (int j = 0; j < visible; ++j) acc += s[j] / z * v[std::size_t(j) * width + g * Dv + d];
                expected[(std::size_t(t) * H + h) * Dv + d] = acc;
            }
        }
    const auto stats = moe_gpu_test::compare(out, expected);
    GPU_CHECK(stats.max_abs <= 1e-4 * stats.max_ref, "attention max|Δ| " + std::to_string(stats.max_abs));
}
}  // namespace

GPU_TEST(attention_gqa_prefill) { check_attention({.heads = 8, .kv_heads = 2, .key_dim = 64, .value_dim = 64}, 0, 40, 10); }
GPU_TEST(attention_gqa_decode_with_cache) { check_attention({.heads = 8, .kv_heads = 2, .key_dim = 64, .value_dim = 64}, 299, 1, 20); }
GPU_TEST(attention_gqa_chunked_prefill_after_cache) { check_attention({.heads = 4, .kv_heads = 4, .key_dim = 128, .value_dim = 128}, 50, 17, 30); }
GPU_TEST(attention_mla_absorbed_shape) { check_attention({.heads = 4, .kv_heads = 1, .key_dim = 80, .value_dim = 64}, 20, 3, 40); }
GPU_TEST(attention_at_the_key_limit) {
    check_attention({.heads = 2, .kv_heads = 1, .key_dim = 64, .value_dim = 64}, moe::cuda::max_attention_keys - 2, 2, 50);
}

GPU_TEST(sampling_greedy_top1_and_chain) {
    const int vocab = 5000;
    auto logits = gaussian(vocab, 50, 2.0f);
    logits[4321] = 9.0f;
    logits[17] = 9.0f;  // tie at the top: the lower id wins
    moe::cuda::device_buffer<float> d_logits{std::span<const float>(logits)};
    moe::cuda::device_buffer<int> token(1);
    const std::size_t bytes = moe::cuda::sampling_workspace_size(vocab);
    moe::cuda::device_buffer<std::byte> ws(bytes);
    auto draw = [&](moe::cuda::sampling_config c, float u) {
        moe::cuda::sample(d_logits.data(), vocab, c, u, token.data(), ws.data(), bytes, nullptr);
        return token.to_host()[0];
    };
    GPU_CHECK(draw({.temperature = 0.0f, .top_k = 0, .top_p = 1.0f}, 0.7f) == 17, "greedy: arg-max, lowest id on ties");
    GPU_CHECK(draw({.temperature = 1.0f, .top_k = 1, .top_p = 1.0f}, 0.9f) == 17, "top-k 1");

    // Host chain in double: sort (stable, descending), top-k, top-p, temperature, draw.
    const moe::cuda::sampling_config chain{.temperature = 0.7f, .top_k = 50, .top_p = 0.9f};
    std::vector<int> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
    int n = chain.top_k;
    double z = 0;
    for (int i = 0; i < n; ++i) z += std::exp(double(logits[order[i]]) - logits[order[0]]);
    double c = 0;
    for (int i = 0; i < n; ++i) {
        c += std::exp(double(logits[order[i]]) - logits[order[0]]) / z;
        if (c >= chain.top_p) { n = i + 1; break; }
    }
    std::vector<double> cumulative(n);
    double zt = 0;
    for (int i = 0; i < n; ++i) cumulative[i] = (zt += std::exp((double(logits[order[i]]) - logits[order[0]]) / chain.temperature));
    int checked = 0;
    for (int step = 0; step < 100; ++step) {
        const float u = (float(step) + 0.5f) / 100.0f;
        const auto it = std::upper_bound(cumulative.begin(), cumulative.end(), double(u) * zt);
        const int i = std::min<int>(static_cast<int>(it - cumulative.begin()), n - 1);
        const bool near_boundary = std::fabs(cumulative[i] - u * zt) < 1e-4 * zt || (i > 0 && std::fabs(cumulative[i - 1] - u * zt) < 1e-4 * zt);
        if (near_boundary) continue;
        ++checked;
        GPU_CHECK(draw(chain, u) == order[i], "sampled token differs from the host chain at u = " + std::to_string(u));
    }
    GPU_CHECK(checked > 90, "too few draws checked");
}
