// moe/cpu/kernels/neon/bf16_tiles.hpp — the ARM NEON paths of the bf16 × bf16 tiles (weight_format::bf16_compute):
// decode (bf16_dot_tiles.hpp) and prefill GEMM (bf16_gemm_tiles.hpp).
//
// bf16_dot_tiles.hpp defines the sums as vdpbf16ps computes them: per step of 32 k, lane l adds the product of
// k = 2l + 1, then of k = 2l, each by an fp32 fma, with denormal inputs and results flushed to signed zero. ARM's
// `bfdot` does not: it adds both products before rounding (and, without FEAT_EBF16, rounds to odd), so its results
// differ in the last bits. This path therefore does those exact steps with fmla — products of bf16 values are exact
// in fp32, so fmla rounds once, as the definition does — and flushes with a compare and two bit operations, giving the
// same bits as the portable loop and the AVX512-BF16 path. `vld2q` splits each 16 values into even and odd k;
// widening bf16 is a 16-bit shift. The GEMM tile (bf16_gemm_tiles.hpp's packed pairs) splits each token's pair
// word by a shift and a mask and broadcasts the weight pair by element. Not written yet: a `bfmmla`/`bfdot` path
// (faster, but it would need a stated bound instead of equality).
#pragma once

#include "moe/cpu/kernels/neon/f32_tiles.hpp"

#if defined(MOE_HAVE_NEON_TILES)

#include <arm_neon.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>

#include "moe/cpu/kernels/neon/unroll.hpp"
#include "moe/precision/half_types.hpp"

namespace moe::cpu::kernels::neon {

namespace detail {

// 16 consecutive bf16 values as fp32, split by parity: even[q] holds k = 2l for lanes l = 4q … 4q + 3 of the
// half-step, odd[q] k = 2l + 1. Denormal inputs become signed zeros (vdpbf16ps's DAZ).
struct bf16_pairs {
    float32x4_t even[2], odd[2];
};

inline uint16x8_t bf16_denormals_to_zero(uint16x8_t bits) {
    const uint16x8_t normal = vtstq_u16(bits, vdupq_n_u16(0x7f80));  // exponent ≠ 0: kept as is
    return vandq_u16(bits, vorrq_u16(normal, vdupq_n_u16(0x8000)));  // otherwise only the sign stays
}

inline bf16_pairs load_bf16_pairs(const std::uint16_t* p) {
    const uint16x8x2_t v = vld2q_u16(p);
    const uint16x8_t e = bf16_denormals_to_zero(v.val[0]), o = bf16_denormals_to_zero(v.val[1]);
    return {{vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(e), 16)), vreinterpretq_f32_u32(vshll_high_n_u16(e, 16))},
            {vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(o), 16)), vreinterpretq_f32_u32(vshll_high_n_u16(o, 16))}};
}

// Results below the smallest normal fp32 become signed zeros (vdpbf16ps's FTZ), as flush_denormal does.
inline float32x4_t flush_denormals(float32x4_t v) {
    const uint32x4_t tiny = vcagtq_f32(vdupq_n_f32(std::numeric_limits<float>::min()), v);  // facgt
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(v), vshrq_n_u32(tiny, 1)));   // keep the sign
}

// One step (32 k from `d`, values at or past `limit` read as zero) of a Rows × Tokens tile.
template <int Rows, int Tokens, bool Tail>
inline void bf16_step(wide16 (&acc)[Rows][Tokens], const bfloat16* const* x, const bfloat16* const* w, std::int64_t d,
                      std::int64_t limit) {
    auto source = [&](const bfloat16* row, std::uint16_t (&padded)[32]) -> const std::uint16_t* {
        const auto* bits = reinterpret_cast<const std::uint16_t*>(row + d);
        if constexpr (!Tail) return bits;
        std::memset(padded, 0, sizeof padded);
        std::memcpy(padded, bits, static_cast<std::size_t>(limit - d) * sizeof(std::uint16_t));
        return padded;
    };
    MOE_NEON_UNROLL
    for (int half = 0; half < 2; ++half) {  // lanes 0–7 from k = d … d + 15, lanes 8–15 from d + 16 … d + 31
        bf16_pairs wv[Rows];
        std::uint16_t padded[32];
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r) wv[r] = load_bf16_pairs(source(w[r], padded) + 16 * half);
        MOE_NEON_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            const bf16_pairs xv = load_bf16_pairs(source(x[t], padded) + 16 * half);
            MOE_NEON_UNROLL
            for (int r = 0; r < Rows; ++r)
                MOE_NEON_UNROLL
                for (int q = 0; q < 2; ++q) {
                    float32x4_t& a = acc[r][t].v[2 * half + q];
                    a = flush_denormals(vfmaq_f32(a, xv.odd[q], wv[r].odd[q]));
                    a = flush_denormals(vfmaq_f32(a, xv.even[q], wv[r].even[q]));
                }
        }
    }
}

}  // namespace detail

// out[t · out_stride + r] = Σ_k x[t][k] · w[r][k] in bf16_dot_tiles.hpp's order, for r < Rows, t < Tokens.
template <int Rows, int Tokens>
void bf16_dot_tile(const bfloat16* const* x, const bfloat16* const* w, std::int64_t k, float* out,
                   std::int64_t out_stride) {
    // Fit the 32 registers: 4 accumulators per row × token, 4 widened weight and 4 activation vectors, the
    // flush constants; split the rows, then the tokens (1 × 5 spilled 42 vectors per step with GCC 12).
    if constexpr (Rows > 1 && 4 * Rows * Tokens + 4 * Rows + 8 > 32) {
        constexpr int half = Rows / 2;
        bf16_dot_tile<half, Tokens>(x, w, k, out, out_stride);
        bf16_dot_tile<Rows - half, Tokens>(x, w + half, k, out + half, out_stride);
    } else if constexpr (Rows == 1 && Tokens > 3) {
        bf16_dot_tile<1, 3>(x, w, k, out, out_stride);
        bf16_dot_tile<1, Tokens - 3>(x + 3, w, k, out + 3 * out_stride, out_stride);
    } else {
        constexpr std::int64_t step = 32;
        wide16 acc[Rows][Tokens];
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_NEON_UNROLL
            for (int t = 0; t < Tokens; ++t)
                MOE_NEON_UNROLL
                for (int q = 0; q < 4; ++q) acc[r][t].v[q] = vdupq_n_f32(0.0f);
        const std::int64_t full = k - k % step;
        for (std::int64_t d = 0; d < full; d += step) detail::bf16_step<Rows, Tokens, false>(acc, x, w, d, k);
        if (full < k) detail::bf16_step<Rows, Tokens, true>(acc, x, w, full, k);
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_NEON_UNROLL
            for (int t = 0; t < Tokens; ++t) out[t * out_stride + r] = tree_sum16(acc[r][t]);
    }
}

namespace detail {

// A bf16 value as fp32, a denormal as a signed zero.
inline float bf16_scalar_input(std::uint16_t bits) {
    return std::bit_cast<float>(static_cast<std::uint32_t>((bits & 0x7f80u) == 0 ? bits & 0x8000u : bits) << 16);
}

// ct[r · np + 4v + l] for r < Rows, v < Vectors: one chain of pair steps per output (bf16_gemm_tiles.hpp's order).
template <int Rows, int Vectors>
void bf16_gemm_tile(const bfloat16* w, std::int64_t w_stride, std::int64_t k, const std::uint32_t* xp,
                    std::int64_t np, float* ct) {
    const auto* wb = reinterpret_cast<const std::uint16_t*>(w);
    const std::int64_t pairs = (k + 1) / 2;
    const uint32x4_t high = vdupq_n_u32(0xffff0000u);
    float32x4_t acc[Rows][Vectors];
    MOE_NEON_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_NEON_UNROLL
        for (int v = 0; v < Vectors; ++v) acc[r][v] = vdupq_n_f32(0.0f);
    for (std::int64_t p = 0; p < pairs; ++p) {
        float32x4_t x_even[Vectors], x_odd[Vectors];
        MOE_NEON_UNROLL
        for (int v = 0; v < Vectors; ++v) {
            // Each word holds a token's pair: even k low, odd k high. Denormal halves become signed zeros.
            const uint16x8_t words = bf16_denormals_to_zero(vreinterpretq_u16_u32(vld1q_u32(xp + p * np + 4 * v)));
            x_even[v] = vreinterpretq_f32_u32(vshlq_n_u32(vreinterpretq_u32_u16(words), 16));
            x_odd[v] = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_u16(words), high));
        }
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r) {
            const std::uint16_t* row = wb + r * w_stride + 2 * p;
            const float w_even = bf16_scalar_input(row[0]);
            const float w_odd = 2 * p + 1 < k ? bf16_scalar_input(row[1]) : 0.0f;
            MOE_NEON_UNROLL
            for (int v = 0; v < Vectors; ++v) {
                acc[r][v] = flush_denormals(vfmaq_n_f32(acc[r][v], x_odd[v], w_odd));
                acc[r][v] = flush_denormals(vfmaq_n_f32(acc[r][v], x_even[v], w_even));
            }
        }
    }
    MOE_NEON_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_NEON_UNROLL
        for (int v = 0; v < Vectors; ++v) vst1q_f32(ct + r * np + 4 * v, acc[r][v]);
}

}  // namespace detail

// bf16_gemm_tiles.hpp's product on NEON: ct (rows, np) from packed pairs xp (P, np), np a multiple of 8; tiles of
// 4 rows × 8 tokens (8 accumulators), single rows for the remainder.
inline void bf16_gemm_block(const std::uint32_t* xp, std::int64_t np, const bfloat16* w, std::int64_t w_stride,
                            std::int64_t rows, std::int64_t k, float* ct) {
    for (std::int64_t t0 = 0; t0 < np; t0 += 8) {
        std::int64_t r = 0;
        for (; r + 4 <= rows; r += 4) detail::bf16_gemm_tile<4, 2>(w + r * w_stride, w_stride, k, xp + t0, np, ct + r * np + t0);
        for (; r < rows; ++r) detail::bf16_gemm_tile<1, 2>(w + r * w_stride, w_stride, k, xp + t0, np, ct + r * np + t0);
    }
}

}  // namespace moe::cpu::kernels::neon

#endif
