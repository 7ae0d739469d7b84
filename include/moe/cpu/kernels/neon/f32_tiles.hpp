// moe/cpu/kernels/neon/f32_tiles.hpp — the ARM NEON paths (AArch64: Advanced SIMD is always there) of the fp32
// activation tiles: dot_tiles.hpp (decode; fp32, bf16 or fp16 weights read in place) and gemm_tiles.hpp (prefill).
//
// They follow those headers' summation orders with the same fused multiply-adds, so they are bit-identical to the
// portable loops:
// - dot tiles: the 16 lanes are 4 float32x4 (lanes 0–3, 4–7, 8–11, 12–15), one fmla each per 16 weights; the tree
//   l + 8 is v0 + v2 and v1 + v3, then + 4, + 2, + 1; the K mod 16 tail is a scalar fma chain added last. bf16
//   weights widen by a 16-bit shift (ushll), fp16 by fcvtl (exact, subnormals included).
// - GEMM tiles: one fma chain over k per output, 4 weights of a row loaded as one vector and broadcast by lane
//   (fmla by element), against 16 tokens (4 vectors) per row: 16 accumulators for a tile of 4 rows × 16 tokens;
//   bf16/fp16 weights are widened per K-chunk 16 at a time (load_wide16, store_wide16).
#pragma once

#if defined(__ARM_NEON) && defined(__aarch64__)
#define MOE_HAVE_NEON_TILES 1

#include <arm_neon.h>

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "moe/cpu/kernels/neon/unroll.hpp"
#include "moe/precision/half_types.hpp"

namespace moe::cpu::kernels::neon {

// 16 consecutive weights widened to fp32: lanes 0–3, 4–7, 8–11, 12–15.
struct wide16 {
    float32x4_t v[4];
};

inline wide16 load_wide16(const float* p) { return {{vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}}; }

inline wide16 load_wide16(const bfloat16* p) {
    const auto* bits = reinterpret_cast<const std::uint16_t*>(p);
    const uint16x8_t a = vld1q_u16(bits), b = vld1q_u16(bits + 8);
    return {{vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(a), 16)), vreinterpretq_f32_u32(vshll_high_n_u16(a, 16)),
             vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(b), 16)), vreinterpretq_f32_u32(vshll_high_n_u16(b, 16))}};
}

inline wide16 load_wide16(const float16* p) {
    const auto* bits = reinterpret_cast<const std::uint16_t*>(p);
    const float16x8_t a = vreinterpretq_f16_u16(vld1q_u16(bits)), b = vreinterpretq_f16_u16(vld1q_u16(bits + 8));
    return {{vcvt_f32_f16(vget_low_f16(a)), vcvt_high_f32_f16(a), vcvt_f32_f16(vget_low_f16(b)), vcvt_high_f32_f16(b)}};
}

inline void store_wide16(float* p, const wide16& a) {
    for (int q = 0; q < 4; ++q) vst1q_f32(p + 4 * q, a.v[q]);
}

// dot_tiles.hpp's tree over 16 lanes: l + 8, + 4, + 2, + 1.
inline float tree_sum16(const wide16& a) {
    const float32x4_t s = vaddq_f32(vaddq_f32(a.v[0], a.v[2]), vaddq_f32(a.v[1], a.v[3]));  // l + 8, then + 4
    const float32x2_t p = vadd_f32(vget_low_f32(s), vget_high_f32(s));                      // + 2
    return vget_lane_f32(p, 0) + vget_lane_f32(p, 1);                                       // + 1
}

// Decode tile (dot_tiles.hpp): out[t · out_stride + r] = Σ_k x[t][k] · w[r][k] for r < Rows, t < Tokens.
template <int Rows, int Tokens, class Storage>
void dot_tile(const float* const* x, const Storage* const* w, std::int64_t k, float* out, std::int64_t out_stride) {
    if constexpr (Rows > 1 && 4 * Rows * Tokens + 4 * Rows + 4 > 32) {
        // Accumulators (4 per row × token), widened weights and one activation vector must fit 32 registers.
        constexpr int half = Rows / 2;
        dot_tile<half, Tokens>(x, w, k, out, out_stride);
        dot_tile<Rows - half, Tokens>(x, w + half, k, out + half, out_stride);
    } else {
        constexpr int lanes = 16;
        const std::int64_t k_vector = k - k % lanes;
        wide16 acc[Rows][Tokens];
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_NEON_UNROLL
            for (int t = 0; t < Tokens; ++t)
                MOE_NEON_UNROLL
                for (int q = 0; q < 4; ++q) acc[r][t].v[q] = vdupq_n_f32(0.0f);
        for (std::int64_t d = 0; d < k_vector; d += lanes) {
            wide16 wv[Rows];
            MOE_NEON_UNROLL
            for (int r = 0; r < Rows; ++r) wv[r] = load_wide16(w[r] + d);
            MOE_NEON_UNROLL
            for (int t = 0; t < Tokens; ++t) {
                const wide16 xv = load_wide16(x[t] + d);
                MOE_NEON_UNROLL
                for (int r = 0; r < Rows; ++r)
                    MOE_NEON_UNROLL
                    for (int q = 0; q < 4; ++q) acc[r][t].v[q] = vfmaq_f32(acc[r][t].v[q], xv.v[q], wv[r].v[q]);
            }
        }
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_NEON_UNROLL
            for (int t = 0; t < Tokens; ++t) {
                float sum = tree_sum16(acc[r][t]);
                for (std::int64_t d = k_vector; d < k; ++d) sum = std::fma(x[t][d], to_float(w[r][d]), sum);
                out[t * out_stride + r] = sum;
            }
    }
}

namespace detail {

// Weight k + L of every row (lane L of its 4-weight vector) against the Vectors activation vectors of row k + L.
template <int L, int Rows, int Vectors>
inline void gemm_lane(float32x4_t (&acc)[Rows][Vectors], const float32x4_t (&wv)[Rows], const float* xt_k,
                      std::int64_t np) {
    float32x4_t xv[Vectors];
    MOE_NEON_UNROLL
    for (int v = 0; v < Vectors; ++v) xv[v] = vld1q_f32(xt_k + L * np + 4 * v);
    MOE_NEON_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_NEON_UNROLL
        for (int v = 0; v < Vectors; ++v) acc[r][v] = vfmaq_laneq_f32(acc[r][v], xv[v], wv[r], L);
}

// ct[r · np + 4v + l] (+)= Σ_{k < kc} w[r · w_stride + k] · xt[k · np + 4v + l]   for r < Rows, v < Vectors
template <int Rows, int Vectors>
void gemm_tile(const float* w, std::int64_t w_stride, const float* xt, std::int64_t np, std::int64_t kc, float* ct,
               bool first_chunk) {
    float32x4_t acc[Rows][Vectors];
    MOE_NEON_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_NEON_UNROLL
        for (int v = 0; v < Vectors; ++v) acc[r][v] = first_chunk ? vdupq_n_f32(0.0f) : vld1q_f32(ct + r * np + 4 * v);
    std::int64_t k = 0;
    for (; k + 4 <= kc; k += 4) {
        float32x4_t wv[Rows];
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r) wv[r] = vld1q_f32(w + r * w_stride + k);
        [&]<int... L>(std::integer_sequence<int, L...>) {
            (gemm_lane<L>(acc, wv, xt + k * np, np), ...);
        }(std::make_integer_sequence<int, 4>{});
    }
    for (; k < kc; ++k)
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_NEON_UNROLL
            for (int v = 0; v < Vectors; ++v) acc[r][v] = vfmaq_n_f32(acc[r][v], vld1q_f32(xt + k * np + 4 * v), w[r * w_stride + k]);
    MOE_NEON_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_NEON_UNROLL
        for (int v = 0; v < Vectors; ++v) vst1q_f32(ct + r * np + 4 * v, acc[r][v]);
}

}  // namespace detail

// gemm_tiles.hpp's gemm_chunk on NEON: all rows × all tokens (np a multiple of 8) of one K-chunk, in tiles of
// 4 rows × 16 tokens, 4 rows × 8 tokens for a last group of 8, single rows for the remainder of the rows.
inline void gemm_chunk(const float* w, std::int64_t w_stride, std::int64_t rows, const float* xt, std::int64_t np,
                       std::int64_t kc, float* ct, bool first_chunk) {
    for (std::int64_t t0 = 0; t0 < np; t0 += 16) {
        std::int64_t r = 0;
        if (np - t0 >= 16) {
            for (; r + 4 <= rows; r += 4) detail::gemm_tile<4, 4>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
            for (; r < rows; ++r) detail::gemm_tile<1, 4>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
        } else {
            for (; r + 4 <= rows; r += 4) detail::gemm_tile<4, 2>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
            for (; r < rows; ++r) detail::gemm_tile<1, 2>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
        }
    }
}

}  // namespace moe::cpu::kernels::neon

#endif
