// moe/cpu/kernels/bf16_gemm_tiles.hpp — X · Wᵀ for many tokens with bf16 × bf16 products (weight_format::
// bf16_compute): the GEMM counterpart of bf16_dot_tiles.hpp, as gemm_tiles.hpp is of dot_tiles.hpp.
//
// Operands (K = inner width, P = (K + 1) / 2 pairs, n tokens, np = padded_tokens(n)):
//   xp: (P, np) activations rounded to bf16 (nearest even) and packed in pairs: xp[p · np + t] holds x[t][2p] in its
//       low 16 bits and x[t][2p + 1] in its high 16 bits (0 past K and for tokens ≥ n) — pack_bf16_pairs;
//   w:  (rows, K) bf16 weights in nn.Linear layout, read in place: a row's pair p is the 32-bit word at w + 2p, so
//       it is broadcast straight from the checkpoint, with no widening pass;
//   ct: (rows, np) results transposed, ct[r · np + t].
// A register tile of Rows weight rows × 16·Vectors tokens (or 8, 256-bit, for a last group of 8 tokens): per pair
// it loads Vectors packed activation vectors,
// broadcasts each row's weight pair and issues Rows·Vectors vdpbf16ps (32 multiply-adds each).
//
// Summation order: ct[r][t] is one chain over pairs p = 0, 1, …, P − 1 in increasing order starting from +0, each
// adding the odd product then the even one, rounded to fp32, denormals flushed (the instruction's definition, see
// bf16_dot_tiles.hpp) — whatever the tile shape or thread count; the portable path computes the same chain. It
// is not the order of the bf16 dot-product tiles (used for ≤ 4 tokens): a token's result can differ in the last
// bits between a call where it shares the weights with ≤ 4 tokens and one with more, never with the thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "moe/cpu/kernels/bf16_dot_tiles.hpp"
#include "moe/cpu/kernels/gemm_tiles.hpp"
#include "moe/precision/half_types.hpp"

namespace moe::cpu::kernels {

constexpr std::int64_t bf16_pairs(std::int64_t k) { return (k + 1) / 2; }

// x: (n, K) fp32 with row stride x_stride  →  xp: (P, np) packed bf16 pairs (see the header comment).
inline void pack_bf16_pairs(const float* x, std::int64_t x_stride, std::int64_t n, std::int64_t k, std::uint32_t* xp) {
    const std::int64_t np = padded_tokens(n), pairs = bf16_pairs(k);
    for (std::int64_t p = 0; p < pairs; ++p) {
        std::uint32_t* out = xp + p * np;
        for (std::int64_t t = 0; t < np; ++t) {
            if (t >= n) {
                out[t] = 0;
                continue;
            }
            const float* row = x + t * x_stride;
            const std::uint32_t even = bfloat16::from_float(row[2 * p]);
            const std::uint32_t odd = 2 * p + 1 < k ? bfloat16::from_float(row[2 * p + 1]) : 0u;
            out[t] = even | (odd << 16);
        }
    }
}

namespace detail {

// Row r's weight pair p as one 32-bit word (even element low); the missing odd element of an odd K is 0.
inline std::uint32_t weight_pair(const bfloat16* row, std::int64_t p, std::int64_t k) {
    const std::uint32_t even = row[2 * p].bits;
    const std::uint32_t odd = 2 * p + 1 < k ? row[2 * p + 1].bits : 0u;
    return even | (odd << 16);
}

// The portable definition for `rows` weight rows × `lanes` packed tokens: each output one chain of pair steps.
inline void bf16_gemm_portable(const bfloat16* w, std::int64_t w_stride, std::int64_t k, int rows,
                               const std::uint32_t* xp, std::int64_t np, int lanes, float* ct) {
    for (int r = 0; r < rows; ++r)
        for (int l = 0; l < lanes; ++l) {
            float acc = 0.0f;
            for (std::int64_t p = 0; p < bf16_pairs(k); ++p) {
                const std::uint32_t wp = weight_pair(w + r * w_stride, p, k), xw = xp[p * np + l];
                acc = bf16_pair_step(acc, static_cast<std::uint16_t>(xw & 0xffffu), static_cast<std::uint16_t>(xw >> 16),
                                     static_cast<std::uint16_t>(wp & 0xffffu), static_cast<std::uint16_t>(wp >> 16));
            }
            ct[r * np + l] = acc;
        }
}

template <int Rows, int Vectors>
void bf16_gemm_tile(const bfloat16* w, std::int64_t w_stride, std::int64_t k, const std::uint32_t* xp, std::int64_t np,
                    float* ct, bool portable) {
#if defined(MOE_HAVE_AVX512_BF16)
    if (!portable) {
        const std::int64_t pairs = bf16_pairs(k);
        const std::int64_t whole = k / 2;  // pairs with both elements inside K
        __m512 acc[Rows][Vectors];
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_UNROLL
            for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm512_setzero_ps();
        auto step = [&](std::int64_t p, auto pair_of_row) {
            __m512i xv[Vectors];
            MOE_UNROLL
            for (int v = 0; v < Vectors; ++v) xv[v] = _mm512_loadu_si512(xp + p * np + 16 * v);
            MOE_UNROLL
            for (int r = 0; r < Rows; ++r) {
                const __m512i wr = _mm512_set1_epi32(static_cast<int>(pair_of_row(r)));
                MOE_UNROLL
                for (int v = 0; v < Vectors; ++v)
                    acc[r][v] = _mm512_dpbf16_ps(acc[r][v], reinterpret_cast<__m512bh>(xv[v]), reinterpret_cast<__m512bh>(wr));
            }
        };
        for (std::int64_t p = 0; p < whole; ++p) {
            step(p, [&](int r) {
                std::uint32_t word;
                std::memcpy(&word, w + r * w_stride + 2 * p, sizeof(word));  // both halves inside the row
                return word;
            });
        }
        if (whole < pairs) step(whole, [&](int r) { return weight_pair(w + r * w_stride, whole, k); });
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_UNROLL
            for (int v = 0; v < Vectors; ++v) _mm512_storeu_ps(ct + r * np + 16 * v, acc[r][v]);
        return;
    }
#endif
    (void)portable;
    bf16_gemm_portable(w, w_stride, k, Rows, xp, np, 16 * Vectors, ct);
}

// The same for a group of 8 tokens (256-bit vdpbf16ps).
template <int Rows>
void bf16_gemm_tile8(const bfloat16* w, std::int64_t w_stride, std::int64_t k, const std::uint32_t* xp, std::int64_t np,
                     float* ct, bool portable) {
#if defined(MOE_HAVE_AVX512_BF16) && defined(__AVX512VL__)
    if (!portable) {
        const std::int64_t pairs = bf16_pairs(k);
        const std::int64_t whole = k / 2;  // pairs with both elements inside K
        __m256 acc[Rows];
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r) acc[r] = _mm256_setzero_ps();
        for (std::int64_t p = 0; p < pairs; ++p) {
            const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp + p * np));
            MOE_UNROLL
            for (int r = 0; r < Rows; ++r) {
                std::uint32_t word;
                if (p < whole) std::memcpy(&word, w + r * w_stride + 2 * p, sizeof(word));
                else word = weight_pair(w + r * w_stride, p, k);
                acc[r] = _mm256_dpbf16_ps(acc[r], reinterpret_cast<__m256bh>(xv),
                                          reinterpret_cast<__m256bh>(_mm256_set1_epi32(static_cast<int>(word))));
            }
        }
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r) _mm256_storeu_ps(ct + r * np, acc[r]);
        return;
    }
#endif
    (void)portable;
    bf16_gemm_portable(w, w_stride, k, Rows, xp, np, 8, ct);
}

}  // namespace detail

// ct (rows, np) = W[0:rows] · X from packed pairs xp (P, np). `portable` forces the portable loop (tests).
inline void bf16_gemm_block_transposed(const std::uint32_t* xp, std::int64_t np, const bfloat16* w, std::int64_t w_stride,
                                       std::int64_t rows, std::int64_t k, float* ct, bool portable = false) {
#if defined(MOE_HAVE_NEON_TILES)
    if (!portable) return neon::bf16_gemm_block(xp, np, w, w_stride, rows, k, ct);
#endif
#if defined(MOE_HAVE_AVX2_TILES)
    // The AVX2 tiles, unless a denormal was met (then this block is redone by the portable loop).
    if (!portable && avx2::bf16_gemm_block_transposed(xp, np, w, w_stride, rows, k, ct)) return;
    portable = true;
#endif
    std::int64_t t0 = 0;
    for (; t0 + 32 <= np; t0 += 32) {
        std::int64_t r = 0;
        for (; r + 8 <= rows; r += 8) detail::bf16_gemm_tile<8, 2>(w + r * w_stride, w_stride, k, xp + t0, np, ct + r * np + t0, portable);
        for (; r < rows; ++r) detail::bf16_gemm_tile<1, 2>(w + r * w_stride, w_stride, k, xp + t0, np, ct + r * np + t0, portable);
    }
    if (np - t0 == 16) {
        std::int64_t r = 0;
        for (; r + 16 <= rows; r += 16) detail::bf16_gemm_tile<16, 1>(w + r * w_stride, w_stride, k, xp + t0, np, ct + r * np + t0, portable);
        for (; r < rows; ++r) detail::bf16_gemm_tile<1, 1>(w + r * w_stride, w_stride, k, xp + t0, np, ct + r * np + t0, portable);
    } else if (np - t0 == 8) {  // 8 tokens left
        std::int64_t r = 0;
        for (; r + 16 <= rows; r += 16) detail::bf16_gemm_tile8<16>(w + r * w_stride, w_stride, k, xp + t0, np, ct + r * np + t0, portable);
        for (; r < rows; ++r) detail::bf16_gemm_tile8<1>(w + r * w_stride, w_stride, k, xp + t0, np, ct + r * np + t0, portable);
    }
}

// The plain-loop definition of one result from fp32 x (rounded to bf16 here) and bf16 weights.
inline float bf16_gemm_reference(const float* x, const bfloat16* w, std::int64_t k) {
    float acc = 0.0f;
    for (std::int64_t p = 0; p < bf16_pairs(k); ++p) {
        const std::uint16_t x_even = bfloat16::from_float(x[2 * p]);
        const std::uint16_t x_odd = 2 * p + 1 < k ? bfloat16::from_float(x[2 * p + 1]) : std::uint16_t{0};
        const std::uint32_t wp = detail::weight_pair(w, p, k);
        acc = detail::bf16_pair_step(acc, x_even, x_odd, static_cast<std::uint16_t>(wp & 0xffffu),
                                     static_cast<std::uint16_t>(wp >> 16));
    }
    return acc;
}

}  // namespace moe::cpu::kernels
