// tests/cuda/test_cuda_router.cu — the warp-per-token router kernel against moe::route_token.
//
// 1. Against route_token itself run on the device (one thread per token, the same std::exp): expert ids AND weights
//    must be bit-identical — this is the proof that the block-parallel kernel is the same function.
// 2. Against route_token on the host (the CPU layer's call): ids identical; weights within 4e-6 relative (device
//    expf and glibc expf may differ by 1–2 ulp). A token may pick a different expert only at a near-tie that those
//    ulps explain: allowed when the host scores of the differing experts are within 1e-5 of each other (counted).
// Inputs: Gaussian logits; logits rounded to a coarse grid (many exact ties: the lower index must win); rows with
// NaN (NaN ranks first); every preset, 7…4096 experts, top-1…16. 4096 experts (moe::cuda::moe_layer's limit) with and
// without a selection bias run with fewer tokens per block (shared memory); that they compile is checked by the build.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gpu_test.hpp"
#include "moe/cuda/kernels/router.hpp"
#include "moe/routing/route_token.hpp"

namespace {

// nvcc cannot name a class-type template argument in a kernel stub; wrap the reference in a code like the library.
template <unsigned long long Code, int E, int K>
__global__ void route_token_reference_kernel(const float* logits, const float* bias, float scale, int tokens, int* ids,
                                             float* weights) {
    constexpr moe::router_config Router = moe::cuda::decode_router(Code);
    const int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (t < tokens) moe::route_token<Router, E, K>(logits + t * E, bias, scale, ids + t * K, weights + t * K);
}

enum class input_kind { gaussian, ties, nan };

template <moe::router_config Router, int E, int K>
void check_router(input_kind kind, std::uint64_t seed, float scale = 1.0f) {
    constexpr int T = 200;
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    std::vector<float> logits(T * E), bias(E);
    for (float& v : logits) v = normal(rng);
    if (kind == input_kind::ties) {
        for (float& v : logits) v = std::round(v * 2.0f) / 2.0f;  // few distinct values: exact ties everywhere
    }
    if (kind == input_kind::nan) {
        for (int t = 0; t < T; t += 3) logits[t * E + (t * 7) % E] = NAN;
        logits[0] = NAN;  // a NaN first element (the softmax maximum's special case)
    }
    for (float& b : bias) b = kind == input_kind::ties ? 0.0f : normal(rng) * 0.05f;

    moe::cuda::device_buffer<float> d_logits{std::span<const float>(logits)}, d_bias{std::span<const float>(bias)};
    moe::cuda::device_buffer<int> ids(T * K), ref_ids(T * K);
    moe::cuda::device_buffer<float> w(T * K), ref_w(T * K);
    moe::cuda::route_tokens<Router, E, K>(d_logits.data(), d_bias.data(), scale, T, ids.data(), w.data(), nullptr);
    route_token_reference_kernel<moe::cuda::encode_router(Router), E, K>
        <<<(T + 63) / 64, 64>>>(d_logits.data(), d_bias.data(), scale, T, ref_ids.data(), ref_w.data());
    MOE_CUDA_CHECK_LAUNCH();
    MOE_CUDA_CHECK(cudaDeviceSynchronize());
    const auto h_ids = ids.to_host(), h_ref_ids = ref_ids.to_host();
    const auto h_w = w.to_host(), h_ref_w = ref_w.to_host();
    const std::string where = " [E=" + std::to_string(E) + " K=" + std::to_string(K) + " input " +
                              std::to_string(static_cast<int>(kind)) + "]";
    GPU_CHECK(h_ids == h_ref_ids, "ids differ from route_token on the device" + where);
    GPU_CHECK(std::memcmp(h_w.data(), h_ref_w.data(), h_w.size() * 4) == 0, "weights not bit-identical to route_token on the device" + where);

    int near_ties = 0;
    for (int t = 0; t < T; ++t) {
        int cpu_ids[K];
        float cpu_w[K];
        moe::route_token<Router, E, K>(&logits[t * E], bias.data(), scale, cpu_ids, cpu_w);
        if (!std::equal(cpu_ids, cpu_ids + K, &h_ids[t * K])) {
            ++near_ties;
            continue;  // checked below for being a near-tie only when no NaN/ties input (where exp ulps cannot matter)
        }
        for (int j = 0; j < K; ++j) {
            const float a = h_w[t * K + j], b = cpu_w[j];
            GPU_CHECK((a != a && b != b) || std::fabs(a - b) <= 4e-6f * std::fabs(b), "weight vs host" + where);
        }
    }
    GPU_CHECK(kind == input_kind::gaussian ? near_ties * 100 <= T : near_ties == 0,
              std::to_string(near_ties) + " tokens route differently on the host" + where);
}

template <moe::router_config Router, int E, int K>
void check_all_inputs(std::uint64_t seed, float scale = 1.0f) {
    check_router<Router, E, K>(input_kind::gaussian, seed, scale);
    check_router<Router, E, K>(input_kind::ties, seed + 1, scale);
    check_router<Router, E, K>(input_kind::nan, seed + 2, scale);
}

}  // namespace

GPU_TEST(router_mixtral_8_top2) { check_all_inputs<moe::routers::mixtral, 8, 2>(1); }
GPU_TEST(router_odd_7_top1) { check_all_inputs<moe::routers::qwen3_moe, 7, 1>(2); }
GPU_TEST(router_qwen2_60_top4) { check_all_inputs<moe::routers::qwen2_moe, 60, 4>(3); }
GPU_TEST(router_olmoe_64_top8) { check_all_inputs<moe::routers::olmoe, 64, 8>(4); }
GPU_TEST(router_deepseek_v2_group_limited_64_top6) {
    check_all_inputs<moe::routers::deepseek_v2_group_limited(8, 3), 64, 6>(5, 16.0f);
}
GPU_TEST(router_deepseek_v3_256_8_groups_top8) { check_all_inputs<moe::routers::deepseek_v3(8, 4), 256, 8>(6, 2.5f); }
GPU_TEST(router_384_top16) { check_all_inputs<moe::routers::qwen3_moe, 384, 16>(7); }
GPU_TEST(router_deepseek_v3_512_16_groups_top16) { check_all_inputs<moe::routers::deepseek_v3(16, 8), 512, 16>(8); }
GPU_TEST(router_4096_top8_two_tokens_per_block) {
    static_assert(moe::cuda::router_warps_per_block<moe::routers::qwen3_moe, 4096> == 2);
    check_all_inputs<moe::routers::qwen3_moe, 4096, 8>(9);
}
GPU_TEST(router_deepseek_v3_4096_8_groups_top8_one_token_per_block) {
    static_assert(moe::cuda::router_warps_per_block<moe::routers::deepseek_v3(8, 4), 4096> == 1);
    check_all_inputs<moe::routers::deepseek_v3(8, 4), 4096, 8>(10, 2.5f);
}
