// moe/cpu/kernels/neon/q8_tiles.hpp — the ARM NEON paths of the Q8_0 tiles (q8_dot_tiles.hpp: decode,
// q8_gemm_tiles.hpp: prefill), for targets with the dot-product extension (armv8.2-a+dotprod and later:
// __ARM_FEATURE_DOTPROD; Apple M1+, Graviton 2+, Ampere Altra, Cortex-A76+).
//
// `sdot` multiplies signed × signed bytes and adds each group of 4 into one int32 lane: exactly a q8 lane of the
// summation orders those headers define, with no offset or sign trick, so these tiles sum the same exact integers
// and give the same bits as the portable loops.
// - decode: a block's 32 bytes are two 16-byte vectors; sdot gives lanes 0–3 and 4–7, scaled into two float32x4
//   accumulators by one fma each (acc_l = fma(float(s_l), dw · dx, acc_l)), then the tree l + 4, + 2, + 1.
// - prefill: the packed activations hold one 4-byte group of 4 tokens per 16-byte vector; `sdot` by element
//   multiplies it by one 4-byte group of a weight row (the row's 32 bytes stay in two registers for the block),
//   so a tile of 2 rows × 16 tokens issues 8 sdot per group; each block's exact sums enter the fp32 fma chain.
// Not written yet: `smmla` (int8 matrix multiply, +i8mm) tiles, which need activations packed 8 bytes per token.
#pragma once

#if defined(__ARM_NEON) && defined(__ARM_FEATURE_DOTPROD)
#define MOE_HAVE_Q8_NEON 1

#include <arm_neon.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "moe/cpu/kernels/neon/unroll.hpp"
#include "moe/precision/q8_0.hpp"

namespace moe::cpu::kernels::neon {

// Rows of packed activations per block in q8_gemm_tiles.hpp's layout (8 byte groups, the scale, the start value).
inline constexpr std::int64_t q8_packed_rows_per_block = 10;

// A block's fp16 scale as fp32 (one fcvt; exact, like float16::to_float).
inline float q8_scale(const q8_0_block& b) {
    __fp16 h;
    std::memcpy(&h, &b.scale_bits, sizeof h);
    return static_cast<float>(h);
}

// The 8-lane tree of q8_dot_tiles.hpp (l + 4, + 2, + 1) over lanes 0–3 in lo, 4–7 in hi.
inline float q8_tree_sum8(float32x4_t lo, float32x4_t hi) {
    const float32x4_t s = vaddq_f32(lo, hi);                                 // l + 4
    const float32x2_t p = vadd_f32(vget_low_f32(s), vget_high_f32(s));       // + 2
    return vget_lane_f32(p, 0) + vget_lane_f32(p, 1);                        // + 1
}

// Decode tile: out[t · out_stride + r] for r < Rows, t < Tokens. X is q8_dot_tiles.hpp's q8_tokens.
template <int Rows, int Tokens, class X>
void q8_dot_tile(const X& x, std::int64_t t0, const q8_0_block* const* w, std::int64_t blocks, float* out,
                 std::int64_t out_stride) {
    if constexpr (Rows > 1 && Rows * Tokens > 8) {
        // 2 accumulators per row × token: above 8 pairs GCC 12 spills (2 × 5 stores 10 vectors per block), so
        // split the rows; the activations are re-read from L1.
        constexpr int half = Rows / 2;
        q8_dot_tile<half, Tokens>(x, t0, w, blocks, out, out_stride);
        q8_dot_tile<Rows - half, Tokens>(x, t0, w + half, blocks, out + half, out_stride);
        return;
    } else {
        float32x4_t lo[Rows][Tokens], hi[Rows][Tokens];
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_NEON_UNROLL
            for (int t = 0; t < Tokens; ++t) lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
        const std::int8_t* xq[Tokens];
        const float* xs[Tokens];
        MOE_NEON_UNROLL
        for (int t = 0; t < Tokens; ++t) xq[t] = x.q_of(t0 + t), xs[t] = x.scales_of(t0 + t);
        const int32x4_t zero = vdupq_n_s32(0);
        for (std::int64_t b = 0; b < blocks; ++b) {
            int8x16_t w_lo[Rows], w_hi[Rows];
            float dw[Rows];
            MOE_NEON_UNROLL
            for (int r = 0; r < Rows; ++r) {
                w_lo[r] = vld1q_s8(w[r][b].q);
                w_hi[r] = vld1q_s8(w[r][b].q + 16);
                dw[r] = q8_scale(w[r][b]);
            }
            MOE_NEON_UNROLL
            for (int t = 0; t < Tokens; ++t) {
                const int8x16_t x_lo = vld1q_s8(xq[t] + 32 * b), x_hi = vld1q_s8(xq[t] + 32 * b + 16);
                const float dx = xs[t][b];
                MOE_NEON_UNROLL
                for (int r = 0; r < Rows; ++r) {
                    const float d = dw[r] * dx;
                    lo[r][t] = vfmaq_n_f32(lo[r][t], vcvtq_f32_s32(vdotq_s32(zero, w_lo[r], x_lo)), d);
                    hi[r][t] = vfmaq_n_f32(hi[r][t], vcvtq_f32_s32(vdotq_s32(zero, w_hi[r], x_hi)), d);
                }
            }
        }
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_NEON_UNROLL
            for (int t = 0; t < Tokens; ++t) out[t * out_stride + r] = q8_tree_sum8(lo[r][t], hi[r][t]);
    }
}

namespace detail {

// Group G (0..7) of every row against Vectors activation vectors: sdot by element, the row's group as the lane.
template <int G, int Rows, int Vectors>
inline void q8_group_products(int32x4_t (&sums)[Rows][Vectors], const int8x16_t (&w_lo)[Rows],
                              const int8x16_t (&w_hi)[Rows], const std::int32_t* group_row) {
    int8x16_t xv[Vectors];
    MOE_NEON_UNROLL
    for (int v = 0; v < Vectors; ++v) xv[v] = vreinterpretq_s8_s32(vld1q_s32(group_row + 4 * v));
    MOE_NEON_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_NEON_UNROLL
        for (int v = 0; v < Vectors; ++v) {
            if constexpr (G < 4) sums[r][v] = vdotq_laneq_s32(sums[r][v], xv[v], w_lo[r], G);
            else sums[r][v] = vdotq_laneq_s32(sums[r][v], xv[v], w_hi[r], G - 4);
        }
}

// ct[r · np + 4v + l] for r < Rows, v < Vectors (4 tokens each): the fma chain over blocks of exact block sums.
template <int Rows, int Vectors>
void q8_gemm_tile(const q8_0_block* w, std::int64_t w_stride, std::int64_t blocks, const std::uint32_t* xp,
                  std::int64_t np, float* ct) {
    float32x4_t acc[Rows][Vectors];
    MOE_NEON_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_NEON_UNROLL
        for (int v = 0; v < Vectors; ++v) acc[r][v] = vdupq_n_f32(0.0f);
    for (std::int64_t b = 0; b < blocks; ++b) {
        const auto* rows = reinterpret_cast<const std::int32_t*>(xp + b * q8_packed_rows_per_block * np);
        int8x16_t w_lo[Rows], w_hi[Rows];
        int32x4_t sums[Rows][Vectors];
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r) {
            w_lo[r] = vld1q_s8(w[r * w_stride + b].q);
            w_hi[r] = vld1q_s8(w[r * w_stride + b].q + 16);
            MOE_NEON_UNROLL
            for (int v = 0; v < Vectors; ++v) sums[r][v] = vdupq_n_s32(0);  // signed × signed: no offset to cancel
        }
        [&]<int... G>(std::integer_sequence<int, G...>) {
            (q8_group_products<G>(sums, w_lo, w_hi, rows + G * np), ...);
        }(std::make_integer_sequence<int, 8>{});
        MOE_NEON_UNROLL
        for (int v = 0; v < Vectors; ++v) {
            const float32x4_t dx = vreinterpretq_f32_s32(vld1q_s32(rows + 8 * np + 4 * v));
            MOE_NEON_UNROLL
            for (int r = 0; r < Rows; ++r) {
                const float32x4_t d = vmulq_n_f32(dx, q8_scale(w[r * w_stride + b]));
                acc[r][v] = vfmaq_f32(acc[r][v], vcvtq_f32_s32(sums[r][v]), d);
            }
        }
    }
    MOE_NEON_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_NEON_UNROLL
        for (int v = 0; v < Vectors; ++v) vst1q_f32(ct + r * np + 4 * v, acc[r][v]);
}

}  // namespace detail

// ct (rows, np) from packed activations xp (q8_gemm_tiles.hpp's layout; np a multiple of 8): tiles of 2 rows ×
// 16 tokens (8 accumulators, 8 block sums, 4 weight and 4 activation registers; 4 rows × 8 tokens spills), 2 × 8
// for a last group of 8 tokens, single rows for the remainder.
inline void q8_gemm_block(const std::uint32_t* xp, std::int64_t np, const q8_0_block* w, std::int64_t w_stride,
                          std::int64_t rows, std::int64_t blocks, float* ct) {
    for (std::int64_t t0 = 0; t0 < np; t0 += 16) {
        std::int64_t r = 0;
        if (np - t0 >= 16) {
            for (; r + 2 <= rows; r += 2) detail::q8_gemm_tile<2, 4>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0);
            for (; r < rows; ++r) detail::q8_gemm_tile<1, 4>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0);
        } else {
            for (; r + 2 <= rows; r += 2) detail::q8_gemm_tile<2, 2>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0);
            for (; r < rows; ++r) detail::q8_gemm_tile<1, 2>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0);
        }
    }
}

}  // namespace moe::cpu::kernels::neon

#endif
