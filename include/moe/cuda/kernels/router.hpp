// moe/cuda/kernels/router.hpp — routing of all tokens in one kernel: scores, selection bias, group-limited top-k,
// renormalisation and scaling, specialised on the router_config, the expert count E and top-k K.
//
// One warp per token. The result is exactly moe::route_token's (moe/routing/route_token.hpp), by construction:
//   • scores use the same expressions (std::exp, the same divisions), one element per lane;
//   • every sum whose rounding reaches the output (softmax denominator, weight renormalisation) is taken by each
//     lane sequentially in index order, exactly as route_token does — never as a tree;
//   • the softmax maximum is order independent (fmaxf over non-NaN values, NaN when logits[0] is NaN, as the CPU's
//     sequential `>` scan), and any finite maximum gives the same exp(l − max) values as the CPU's;
//   • group scores and kept groups call moe::top_k_indices itself (one lane per group);
//   • the expert top-k is K rounds of a warp arg-max under moe::ranks_before. ranks_before is a strict total order
//     on (score, index) pairs, so the maximum is unique whatever the reduction order, and K rounds of "take the
//     best remaining" select the same experts in the same order as top_k_indices' insertion.
// tests/cuda/test_cuda_router.cu checks bit-identical ids and weights against route_token run on the device, for
// every preset, 7…512 experts, top-1…16, ties and NaN; and ids against the CPU.
#pragma once

#include <cuda_runtime.h>

#include <cmath>

#include "moe/config/router_config.hpp"
#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/device_types.hpp"
#include "moe/routing/top_k.hpp"

namespace moe::cuda {

inline constexpr int router_warps_per_block = 4;  // 4 tokens per block: E ≤ 512 needs ≤ 18 KiB shared memory

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

__device__ __forceinline__ float warp_max_ignoring_nan(float v) {
    for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// logits:     (T, E)  fp32 router logits
// bias:       (E)     e_score_correction_bias (Router.selection_bias only; else unused, may be null)
// expert_ids: (T, K)  out: chosen experts, best first
// weights:    (T, K)  out: combine weights
template <unsigned long long RouterCode, int Experts, int TopK>
__global__ void __launch_bounds__(router_warps_per_block * 32)
    route_tokens(const float* __restrict__ logits, const float* __restrict__ bias, float routed_scaling_factor,
                 int tokens, int* __restrict__ expert_ids, float* __restrict__ weights) {
    constexpr router_config Router = decode_router(RouterCode);
    static_assert(TopK >= 1 && TopK <= Experts);
    constexpr bool biased = Router.selection_bias;
    constexpr bool grouped = Router.group_by != group_scoring::none;
    constexpr int groups = grouped ? Router.groups : 1;
    constexpr int per_group = Experts / groups;
    __shared__ float s_scores[router_warps_per_block][Experts];               // s or p (unbiased)
    __shared__ float s_biased[router_warps_per_block][biased ? Experts : 1];  // s' = s + bias (selection only)
    __shared__ float s_group_score[router_warps_per_block][groups];
    __shared__ unsigned char s_open[router_warps_per_block][Experts];  // eligible and not chosen yet

    const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
    const long long t = static_cast<long long>(blockIdx.x) * router_warps_per_block + warp;
    if (t >= tokens) return;  // the whole warp leaves together; only __syncwarp is used below
    const float* l = logits + t * Experts;
    float* scores = s_scores[warp];

    // 1. Scores, as route_token computes them.
    if constexpr (Router.scoring == scoring_function::softmax) {
        float m = l[0];
        for (int i = lane; i < Experts; i += 32) m = fmaxf(m, l[i]);
        m = warp_max_ignoring_nan(m);
        if (l[0] != l[0]) m = l[0];  // the CPU's sequential `l[i] > max` scan keeps a NaN first element
        for (int i = lane; i < Experts; i += 32) scores[i] = std::exp(l[i] - m);
        __syncwarp();
        float sum = 0.0f;  // every lane, index order: the CPU's rounding exactly
        for (int i = 0; i < Experts; ++i) sum += scores[i];
        __syncwarp();
        for (int i = lane; i < Experts; i += 32) scores[i] /= sum;
    } else {
        for (int i = lane; i < Experts; i += 32) scores[i] = 1.0f / (1.0f + std::exp(-l[i]));
    }
    const float* choice = scores;
    if constexpr (biased) {
        for (int i = lane; i < Experts; i += 32) s_biased[warp][i] = scores[i] + bias[i];
        choice = s_biased[warp];
    }
    __syncwarp();

    // 2. Which experts may be chosen: all, or those of the top_k_groups best groups (dropped groups are excluded,
    //    the reference's −inf, never scored as 0.0).
    unsigned char* open = s_open[warp];
    if constexpr (!grouped) {
        for (int i = lane; i < Experts; i += 32) open[i] = 1;
    } else {
        for (int g = lane; g < groups; g += 32) {
            const float* group = choice + g * per_group;
            if constexpr (Router.group_by == group_scoring::max) {
                int best = 0;
                top_k_indices(group, per_group, 1, [](int) { return true; }, &best);
                s_group_score[warp][g] = group[best];
            } else {
                int best_two[2] = {0, 0};
                top_k_indices(group, per_group, 2, [](int) { return true; }, best_two);
                s_group_score[warp][g] = group[best_two[0]] + group[best_two[1]];
            }
        }
        __syncwarp();
        int kept[Router.top_k_groups];  // every lane computes the same kept groups (tiny: groups ≤ a few dozen)
        top_k_indices(s_group_score[warp], groups, Router.top_k_groups, [](int) { return true; }, kept);
        for (int i = lane; i < Experts; i += 32) {
            bool keep = false;
            for (int j = 0; j < Router.top_k_groups; ++j) keep |= kept[j] == i / per_group;
            open[i] = keep ? 1 : 0;
        }
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
            if (other_index >= 0 && (best_index < 0 || ranks_before(other_value, other_index, best_value, best_index))) {
                best_value = other_value;
                best_index = other_index;
            }
        }
        ids[j] = best_index;  // identical in every lane
        if (lane == best_index % 32) open[best_index] = 0;
        __syncwarp();
    }

    // 4. Weights from the unbiased scores; renormalise and scale in route_token's order.
    float sum = 0.0f;
    if constexpr (Router.normalize_top_k) {
#pragma unroll
        for (int j = 0; j < TopK; ++j) sum += scores[ids[j]];
        if constexpr (Router.scoring == scoring_function::sigmoid) sum += 1e-20f;
    }
#pragma unroll
    for (int j = 0; j < TopK; ++j) {
        if (lane == j % 32) {
            float w = scores[ids[j]];
            if constexpr (Router.normalize_top_k) w /= sum;
            if (routed_scaling_factor != 1.0f) w *= routed_scaling_factor;
            expert_ids[t * TopK + j] = ids[j];
            weights[t * TopK + j] = w;
        }
    }
}

}  // namespace kernels

// Routes `tokens` tokens. logits: (T, E), bias: (E) or null, expert_ids / weights: (T, K). All device pointers.
template <router_config Router, int Experts, int TopK>
void route_tokens(const float* logits, const float* bias, float routed_scaling_factor, int tokens, int* expert_ids,
                  float* weights, cudaStream_t stream) {
    if (tokens == 0) return;
    kernels::route_tokens<encode_router(Router), Experts, TopK>
        <<<blocks_for(tokens, router_warps_per_block), router_warps_per_block * 32, 0, stream>>>(
            logits, bias, routed_scaling_factor, tokens, expert_ids, weights);
    MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
