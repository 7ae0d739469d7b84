// moe/cuda/kernels/router.hpp — routing of all tokens in one kernel: scores, selection bias, group-limited top-k,
// renormalisation and scaling, specialised on the router_config, the expert count E and top-k K.
//
// One warp per token. The result is exactly moe::route_token's (moe/routing/route_token.hpp), by construction: both
// are the formulas of moe/routing/router_math.hpp, and only the loops differ.
//   • element-wise formulas (softmax numerator, sigmoid, selection score) run one element per lane;
//   • every sum whose rounding reaches the output (softmax denominator, weight renormalisation) is the same
//     index-order sum, taken by each lane — never a tree;
//   • the softmax maximum is router_math::running_max reduced across the warp from partial maxima that all start
//     at logits[0], which gives the sequential scan's value in any order (see running_max);
//   • group scores (one lane per group) and kept groups call router_math::group_score / keep_best_groups;
//   • the expert top-k is K rounds of a warp arg-max under moe::ranks_before. ranks_before is a strict total order
//     on (score, index) pairs, so the maximum is unique whatever the reduction order, and K rounds of "take the
//     best remaining" select the same experts in the same order as top_k_indices' insertion.
// tests/cuda/test_cuda_router.cu checks bit-identical ids and weights against route_token run on the device, for
// every preset, 7…4096 experts, top-1…16, ties and NaN; and ids against the CPU.
//
// Shared memory: a token's scores, biased scores, group scores and open flags, ≈ 5·E bytes (9·E with a selection
// bias). Static shared memory is capped at 48 KiB per block, so large E runs fewer tokens (warps) per block:
// 4 up to E ≈ 2450 (≈ 1360 with a bias), 1 up to E ≈ 9800 (≈ 5450 with a bias). moe::cuda::moe_layer allows
// E ≤ 4096, which therefore compiles for every router (tests/cuda/test_cuda_router.cu instantiates it).
#pragma once

#include <cuda_runtime.h>

#include "moe/config/router_config.hpp"
#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/device_types.hpp"
#include "moe/routing/activations.hpp"
#include "moe/routing/router_math.hpp"
#include "moe/routing/top_k.hpp"

namespace moe::cuda {

// Bytes of shared memory one token (one warp) of the router kernel uses.
template <router_config Router, int Experts>
inline constexpr int router_bytes_per_token =
    4 * Experts + 4 * (Router.selection_bias ? Experts : 1) +
    4 * (Router.group_by != group_scoring::none ? Router.groups : 1) + Experts;
inline constexpr int router_static_shared_limit = 48 * 1024;  // static __shared__ arrays of one block
// Tokens per block: 4, or fewer where 4 tokens' scores would not fit; 0 when not even one fits.
template <router_config Router, int Experts>
inline constexpr int router_warps_per_block = router_static_shared_limit / router_bytes_per_token<Router, Experts> < 4
                                                  ? router_static_shared_limit / router_bytes_per_token<Router, Experts>
                                                  : 4;

// nvcc 13's host-stub generator cannot spell a __global__ template whose parameter is a class-type value
// (router_config), so the kernel takes the router as one integer and decodes it at compile time.
constexpr unsigned long long encode_router(router_config r) {
    return static_cast<unsigned long long>(r.scoring) | (static_cast<unsigned long long>(r.normalize_top_k) << 4) |
           (static_cast<unsigned long long>(r.selection_bias) << 5) |
           (static_cast<unsigned long long>(r.group_by) << 8) |
           (static_cast<unsigned long long>(static_cast<unsigned>(r.groups)) << 16) |
           (static_cast<unsigned long long>(static_cast<unsigned>(r.top_k_groups)) << 40);
}
constexpr router_config decode_router(unsigned long long code) {
    return {.scoring = static_cast<scoring_function>(code & 0xf),
            .normalize_top_k = ((code >> 4) & 1) != 0,
            .selection_bias = ((code >> 5) & 1) != 0,
            .group_by = static_cast<group_scoring>((code >> 8) & 0xff),
            .groups = static_cast<int>((code >> 16) & 0xffffff),
            .top_k_groups = static_cast<int>((code >> 40) & 0xffffff)};
}
static_assert(decode_router(encode_router(routers::deepseek_v3(8, 4))) == routers::deepseek_v3(8, 4));
static_assert(decode_router(encode_router(routers::qwen2_moe)) == routers::qwen2_moe);

namespace kernels {

// logits:     (T, E)  fp32 router logits
// bias:       (E)     e_score_correction_bias (Router.selection_bias only; else unused, may be null)
// expert_ids: (T, K)  out: chosen experts, best first
// weights:    (T, K)  out: combine weights
template <unsigned long long RouterCode, int Experts, int TopK>
__global__ void __launch_bounds__(router_warps_per_block<decode_router(RouterCode), Experts> * 32)
    route_tokens(const float* __restrict__ logits, const float* __restrict__ bias, float routed_scaling_factor,
                 int tokens, int* __restrict__ expert_ids, float* __restrict__ weights) {
    namespace math = router_math;
    constexpr router_config Router = decode_router(RouterCode);
    constexpr int warps = router_warps_per_block<Router, Experts>;
    static_assert(warps >= 1, "moe::cuda::route_tokens: one token's router scores exceed 48 KiB of shared memory "
                              "(about 9800 experts, 5450 with a selection bias)");
    static_assert(TopK >= 1 && TopK <= Experts);
    constexpr bool biased = Router.selection_bias;
    constexpr bool grouped = Router.group_by != group_scoring::none;
    constexpr int groups = grouped ? Router.groups : 1;
    constexpr int per_group = Experts / groups;
    __shared__ float s_scores[warps][Experts];               // s or p (unbiased)
    __shared__ float s_biased[warps][biased ? Experts : 1];  // s' = s + bias (selection only)
    __shared__ float s_group_score[warps][groups];
    __shared__ unsigned char s_open[warps][Experts];  // eligible and not chosen yet

    const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
    const long long t = static_cast<long long>(blockIdx.x) * warps + warp;
    if (t >= tokens) return;  // the whole warp leaves together; only __syncwarp is used below
    const float* l = logits + t * Experts;
    float* scores = s_scores[warp];

    // 1. Scores.
    if constexpr (Router.scoring == scoring_function::softmax) {
        float m = l[0];
        for (int i = lane; i < Experts; i += 32) m = math::running_max(m, l[i]);
        for (int offset = 16; offset > 0; offset /= 2) {
            m = math::running_max(m, __shfl_xor_sync(0xffffffffu, m, offset));
        }
        for (int i = lane; i < Experts; i += 32) scores[i] = math::softmax_numerator(l[i], m);
        __syncwarp();
        const float sum = math::index_order_sum(scores, Experts);  // every lane: the CPU's rounding exactly
        __syncwarp();
        for (int i = lane; i < Experts; i += 32) scores[i] /= sum;
    } else {
        for (int i = lane; i < Experts; i += 32) scores[i] = sigmoid(l[i]);
    }
    const float* choice = scores;
    if constexpr (biased) {
        for (int i = lane; i < Experts; i += 32) s_biased[warp][i] = math::selection_score(scores[i], bias[i]);
        choice = s_biased[warp];
    }
    __syncwarp();

    // 2. Which experts may be chosen: all, or those of the top_k_groups best groups.
    unsigned char* open = s_open[warp];
    if constexpr (!grouped) {
        for (int i = lane; i < Experts; i += 32) open[i] = 1;
    } else {
        for (int g = lane; g < groups; g += 32) {
            s_group_score[warp][g] = math::group_score<Router.group_by>(choice + g * per_group, per_group);
        }
        __syncwarp();
        bool group_kept[groups];  // every lane computes the same kept groups (tiny: groups ≤ a few dozen)
        math::keep_best_groups<Router.top_k_groups>(s_group_score[warp], groups, group_kept);
        for (int i = lane; i < Experts; i += 32) open[i] = group_kept[i / per_group] ? 1 : 0;
    }
    __syncwarp();

    // 3. Top-k: K rounds of "best remaining" under ranks_before (a total order: the arg-max is unique).
    int ids[TopK];
#pragma unroll
    for (int j = 0; j < TopK; ++j) {
        float best_value = 0.0f;
        int best_index = -1;
        for (int i = lane; i < Experts; i += 32) {
            if (open[i] && (best_index < 0 || ranks_before(choice[i], i, best_value, best_index))) {
                best_value = choice[i];
                best_index = i;
            }
        }
        for (int offset = 16; offset > 0; offset /= 2) {
            const float other_value = __shfl_xor_sync(0xffffffffu, best_value, offset);
            const int other_index = __shfl_xor_sync(0xffffffffu, best_index, offset);
            const bool other_first =
                other_index >= 0 && (best_index < 0 || ranks_before(other_value, other_index, best_value, best_index));
            if (other_first) {
                best_value = other_value;
                best_index = other_index;
            }
        }
        ids[j] = best_index;  // identical in every lane
        if (lane == best_index % 32) open[best_index] = 0;
        __syncwarp();
    }

    // 4. Weights from the unbiased scores (every lane computes the denominator; lane j % 32 writes slot j).
    const float denominator = math::weight_denominator<Router>(scores, ids, TopK);
#pragma unroll
    for (int j = 0; j < TopK; ++j) {
        if (lane == j % 32) {
            expert_ids[t * TopK + j] = ids[j];
            weights[t * TopK + j] = math::routing_weight<Router>(scores[ids[j]], denominator, routed_scaling_factor);
        }
    }
}

}  // namespace kernels

// Routes `tokens` tokens. logits: (T, E), bias: (E) or null, expert_ids / weights: (T, K). All device pointers.
template <router_config Router, int Experts, int TopK>
void route_tokens(const float* logits, const float* bias, float routed_scaling_factor, int tokens, int* expert_ids,
                  float* weights, cudaStream_t stream) {
    constexpr int warps = router_warps_per_block<Router, Experts>;
    if (tokens == 0) return;
    kernels::route_tokens<encode_router(Router), Experts, TopK><<<blocks_for(tokens, warps), warps * 32, 0, stream>>>(
        logits, bias, routed_scaling_factor, tokens, expert_ids, weights);
    MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
