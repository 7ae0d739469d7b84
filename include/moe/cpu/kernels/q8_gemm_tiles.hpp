// moe/cpu/kernels/q8_gemm_tiles.hpp — X · Wᵀ for many tokens (prefill) with Q8_0 weights and Q8_0-quantized
// activations: the GEMM counterpart of q8_dot_tiles.hpp, as gemm_tiles.hpp is of dot_tiles.hpp.
//
// Operands (K a multiple of 32, n tokens, np = padded_tokens(n), B = K / 32 blocks):
//   xp: (10 · B, np) 32-bit words, activations quantized per token (quantize_q8_0_activations) and packed per
//       block b in 10 rows — rows 10b + g (g < 8): the 4 signed bytes k = 32b + 4g … + 3 of token t in one word;
//       row 10b + 8: the token's block scale (fp32 bits); row 10b + 9: −128 · Σ of its 32 bytes (int32), the start
//       value that cancels the weight offset below. Tokens ≥ n are all zero — pack_q8_0;
//   w:  (rows, B) q8_0_block rows, read in place: each 4-byte group of a block's q is broadcast as one word;
//   ct: (rows, np) results transposed, ct[r · np + t].
// A register tile of Rows weight rows × 16·Vectors tokens: per block, per 4-byte group it loads Vectors activation
// vectors, broadcasts each row's group (offset to unsigned by an XOR: vpdpbusd multiplies unsigned × signed bytes)
// and issues Rows·Vectors vpdpbusd (64 multiply-adds each) into int32 sums; at the block's end each sum is scaled
// into the fp32 accumulator.
//
// Without AVX-512 (AVX-VNNI, or AVX2 + FMA: x86-64-v3) the tile is 256 bits wide: 8 tokens per vector, Rows ×
// 8·Vectors tokens, the group product by vpdpbusd (AVX-VNNI) or by q8_dot_tiles.hpp's sign trick (AVX2, from a
// start of 0 rather than the offset's start value) — the same exact integers.
//
// Summation order: ct[r][t] = fma chain over blocks b = 0, 1, …, B − 1 from +0 of float(s_b) · (dw_b · dx_b), where
// s_b is the exact integer Σ_i wq · xq of the block — whatever the tile shape or thread count; the portable path
// computes the same chain. It is not the dot-product tiles' order (8 lanes, then a tree): a token's result can
// differ in the last bits between a call with ≤ 4 tokens and one with more, never with the number of threads.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "moe/cpu/kernels/gemm_tiles.hpp"
#include "moe/cpu/kernels/q8_dot_tiles.hpp"
#include "moe/precision/q8_0.hpp"

namespace moe::cpu::kernels {

inline constexpr std::int64_t q8_rows_per_block = 10;  // 8 rows of byte groups, the scale row, the start-value row

constexpr std::int64_t q8_packed_rows(std::int64_t k) { return k / q8_0_block_size * q8_rows_per_block; }

// Packs one token's quantized block: q (32 bytes) and its scale into column t of block b's 10 rows.
inline void pack_q8_0_block(const std::int8_t* q, float scale, std::int64_t b, std::int64_t t, std::int64_t np,
                            std::uint32_t* xp) {
    std::uint32_t* rows = xp + b * q8_rows_per_block * np + t;
    std::int32_t sum = 0;
    for (int g = 0; g < 8; ++g) {
        std::uint32_t word;
        std::memcpy(&word, q + 4 * g, 4);
        rows[g * np] = word;
        for (int i = 0; i < 4; ++i) sum += q[4 * g + i];
    }
    rows[8 * np] = std::bit_cast<std::uint32_t>(scale);
    rows[9 * np] = static_cast<std::uint32_t>(-128 * sum);
}

// Zeroes column t of block b (a padded token: no products, scale 0).
inline void pack_q8_0_zero(std::int64_t b, std::int64_t t, std::int64_t np, std::uint32_t* xp) {
    std::uint32_t* rows = xp + b * q8_rows_per_block * np + t;
    for (int g = 0; g < q8_rows_per_block; ++g) rows[g * np] = 0;
}

// x: (n, K) fp32 with row stride x_stride  →  xp: (10 · K/32, np), see the header comment.
inline void pack_q8_0(const float* x, std::int64_t x_stride, std::int64_t n, std::int64_t k, std::uint32_t* xp) {
    const std::int64_t np = padded_tokens(n), blocks = k / q8_0_block_size;
    std::int8_t q[q8_0_block_size];
    for (std::int64_t t = 0; t < np; ++t)
        for (std::int64_t b = 0; b < blocks; ++b) {
            if (t >= n) {
                pack_q8_0_zero(b, t, np, xp);
                continue;
            }
            float scale;
            quantize_q8_0_activations(x + t * x_stride + b * q8_0_block_size, q8_0_block_size, q, &scale);
            pack_q8_0_block(q, scale, b, t, np, xp);
        }
}

namespace detail {

inline std::uint32_t q8_group(const q8_0_block& block, int g) {
    std::uint32_t word;
    std::memcpy(&word, block.q + 4 * g, 4);
    return word;
}

#if !defined(MOE_HAVE_AVX512_VNNI) && (defined(MOE_HAVE_VNNI_256) || defined(MOE_HAVE_Q8_AVX2))
// The 256-bit tile: ct[r · np + 8v + l] for r < Rows, v < Vectors, l < 8 (np is a multiple of 8, so vectors are
// whole).
template <int Rows, int Vectors>
void q8_gemm_tile_256(const q8_0_block* w, std::int64_t w_stride, std::int64_t blocks, const std::uint32_t* xp,
                      std::int64_t np, float* ct) {
    auto load = [&](const std::uint32_t* p, int v) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 8 * v));
    };
#if defined(MOE_HAVE_VNNI_256)
    const __m256i offset = _mm256_set1_epi32(static_cast<int>(0x80808080u));
#else
    const __m256i ones = _mm256_set1_epi16(1);
#endif
    __m256 acc[Rows][Vectors];
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < blocks; ++b) {
        const std::uint32_t* rows = xp + b * q8_rows_per_block * np;
        __m256i sums[Rows][Vectors];
        MOE_UNROLL
        for (int v = 0; v < Vectors; ++v) {
#if defined(MOE_HAVE_VNNI_256)
            const __m256i start = load(rows + 9 * np, v);  // −128 · Σ x: cancels the weight offset
#else
            const __m256i start = _mm256_setzero_si256();
#endif
            MOE_UNROLL
            for (int r = 0; r < Rows; ++r) sums[r][v] = start;
        }
        MOE_UNROLL
        for (int g = 0; g < 8; ++g) {
            __m256i xv[Vectors];
            MOE_UNROLL
            for (int v = 0; v < Vectors; ++v) xv[v] = load(rows + g * np, v);
            MOE_UNROLL
            for (int r = 0; r < Rows; ++r) {
                const __m256i wg = _mm256_set1_epi32(static_cast<int>(q8_group(w[r * w_stride + b], g)));
#if defined(MOE_HAVE_VNNI_256)
                const __m256i wu = _mm256_xor_si256(wg, offset);
                MOE_UNROLL
                for (int v = 0; v < Vectors; ++v) sums[r][v] = dpbusd256(sums[r][v], wu, xv[v]);
#else
                const __m256i wabs = _mm256_sign_epi8(wg, wg);
                MOE_UNROLL
                for (int v = 0; v < Vectors; ++v) {
                    const __m256i pairs = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(xv[v], wg));
                    sums[r][v] = _mm256_add_epi32(sums[r][v], _mm256_madd_epi16(pairs, ones));
                }
#endif
            }
        }
        MOE_UNROLL
        for (int v = 0; v < Vectors; ++v) {
            const __m256 dx = _mm256_castsi256_ps(load(rows + 8 * np, v));
            MOE_UNROLL
            for (int r = 0; r < Rows; ++r) {
                const __m256 d = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(w[r * w_stride + b].scale_bits)), dx);
                acc[r][v] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[r][v]), d, acc[r][v]);
            }
        }
    }
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int v = 0; v < Vectors; ++v) _mm256_storeu_ps(ct + r * np + 8 * v, acc[r][v]);
}
#endif

// ct[r · np + 16v + l] = Σ_b … for r < Rows, v < Vectors; lanes at or past `lanes` in the last vector are neither
// read nor written (np − t0 may end in a group of 8).
template <int Rows, int Vectors>
void q8_gemm_tile(const q8_0_block* w, std::int64_t w_stride, std::int64_t blocks, const std::uint32_t* xp,
                  std::int64_t np, float* ct, int lanes, bool portable) {
#if defined(MOE_HAVE_AVX512_VNNI)
    if (!portable) {
        const __mmask16 last = lanes >= 16 * Vectors ? __mmask16(0xffff)
                                                     : __mmask16((1u << (lanes - 16 * (Vectors - 1))) - 1u);
        auto load = [&](const std::uint32_t* p, int v) {
            return v == Vectors - 1 ? _mm512_maskz_loadu_epi32(last, p + 16 * v) : _mm512_loadu_si512(p + 16 * v);
        };
        const __m512i offset = _mm512_set1_epi32(static_cast<int>(0x80808080u));
        __m512 acc[Rows][Vectors];
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_UNROLL
            for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm512_setzero_ps();
        for (std::int64_t b = 0; b < blocks; ++b) {
            const std::uint32_t* rows = xp + b * q8_rows_per_block * np;
            __m512i sums[Rows][Vectors];
            MOE_UNROLL
            for (int v = 0; v < Vectors; ++v) {
                const __m512i start = load(rows + 9 * np, v);
                MOE_UNROLL
                for (int r = 0; r < Rows; ++r) sums[r][v] = start;
            }
            MOE_UNROLL
            for (int g = 0; g < 8; ++g) {
                __m512i xv[Vectors];
                MOE_UNROLL
                for (int v = 0; v < Vectors; ++v) xv[v] = load(rows + g * np, v);
                MOE_UNROLL
                for (int r = 0; r < Rows; ++r) {
                    const __m512i wg = _mm512_xor_si512(
                        _mm512_set1_epi32(static_cast<int>(q8_group(w[r * w_stride + b], g))), offset);
                    MOE_UNROLL
                    for (int v = 0; v < Vectors; ++v) sums[r][v] = _mm512_dpbusd_epi32(sums[r][v], wg, xv[v]);
                }
            }
            MOE_UNROLL
            for (int v = 0; v < Vectors; ++v) {
                const __m512 dx = _mm512_castsi512_ps(load(rows + 8 * np, v));
                MOE_UNROLL
                for (int r = 0; r < Rows; ++r) {
                    const __m512 d = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(w[r * w_stride + b].scale_bits)), dx);
                    // maskz form: GCC 12 warns about the undefined pass-through of _mm512_cvtepi32_ps (-Wuninitialized).
                    acc[r][v] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(__mmask16(0xffff), sums[r][v]), d, acc[r][v]);
                }
            }
        }
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_UNROLL
            for (int v = 0; v < Vectors; ++v) {
                if (v == Vectors - 1) _mm512_mask_storeu_ps(ct + r * np + 16 * v, last, acc[r][v]);
                else _mm512_storeu_ps(ct + r * np + 16 * v, acc[r][v]);
            }
        return;
    }
#endif
    (void)portable;
    for (int r = 0; r < Rows; ++r)
        for (int l = 0; l < lanes; ++l) {
            float acc = 0.0f;
            for (std::int64_t b = 0; b < blocks; ++b) {
                const std::uint32_t* rows = xp + b * q8_rows_per_block * np + l;
                const q8_0_block& block = w[r * w_stride + b];
                std::int32_t s = static_cast<std::int32_t>(rows[9 * np]);
                for (int g = 0; g < 8; ++g) {
                    const std::uint32_t word = rows[g * np];
                    for (int i = 0; i < 4; ++i) {
                        const auto xq = static_cast<std::int8_t>(word >> (8 * i));
                        const std::int32_t wu = std::int32_t{block.q[4 * g + i]} + 128;  // the offset weight
                        s += wu * xq;
                    }
                }
                const float dx = std::bit_cast<float>(rows[8 * np]);
                acc = std::fma(float(s), block.scale() * dx, acc);
            }
            ct[r * np + l] = acc;
        }
}

}  // namespace detail

// ct (rows, np) = W[0:rows] · X over all K, from packed activations xp (see the header comment).
// w: (rows, K/32) blocks with row stride w_stride blocks. `portable` forces the portable loop (tests).
inline void q8_gemm_block_transposed(const std::uint32_t* xp, std::int64_t np, const q8_0_block* w,
                                     std::int64_t w_stride, std::int64_t rows, std::int64_t k, float* ct,
                                     bool portable = false) {
    if (rows == 0 || np == 0) return;
    const std::int64_t blocks = k / q8_0_block_size;
#if defined(MOE_HAVE_Q8_NEON)
    static_assert(neon::q8_packed_rows_per_block == q8_rows_per_block, "the NEON tiles read this packing");
    if (!portable) return neon::q8_gemm_block(xp, np, w, w_stride, rows, blocks, ct);
#endif
#if !defined(MOE_HAVE_AVX512_VNNI) && (defined(MOE_HAVE_VNNI_256) || defined(MOE_HAVE_Q8_AVX2))
    if (!portable) {  // 16 registers: tiles of 2 rows × 16 tokens or 4 rows × 8 tokens
        for (std::int64_t t0 = 0; t0 < np; t0 += 16) {
            std::int64_t r = 0;
            if (np - t0 >= 16) {
                for (; r + 2 <= rows; r += 2)
                    detail::q8_gemm_tile_256<2, 2>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0);
                for (; r < rows; ++r)
                    detail::q8_gemm_tile_256<1, 2>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0);
            } else {
                for (; r + 4 <= rows; r += 4)
                    detail::q8_gemm_tile_256<4, 1>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0);
                for (; r < rows; ++r)
                    detail::q8_gemm_tile_256<1, 1>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0);
            }
        }
        return;
    }
#endif
    for (std::int64_t t0 = 0; t0 < np; t0 += 32) {
        const int lanes = static_cast<int>(std::min<std::int64_t>(32, np - t0));
        std::int64_t r = 0;
        if (lanes > 16) {
            for (; r + 4 <= rows; r += 4)
                detail::q8_gemm_tile<4, 2>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0, lanes, portable);
            for (; r < rows; ++r)
                detail::q8_gemm_tile<1, 2>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0, lanes, portable);
        } else {
            for (; r + 8 <= rows; r += 8)
                detail::q8_gemm_tile<8, 1>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0, lanes, portable);
            for (; r < rows; ++r)
                detail::q8_gemm_tile<1, 1>(w + r * w_stride, w_stride, blocks, xp + t0, np, ct + r * np + t0, lanes, portable);
        }
    }
}

// The plain-loop definition of one result (tests compare the tiles with it).
// xq: (K) activation bytes, xs: (K/32) activation scales, w: (K/32) weight blocks.
inline float q8_gemm_reference(const std::int8_t* xq, const float* xs, const q8_0_block* w, std::int64_t k) {
    float acc = 0.0f;
    for (std::int64_t b = 0; b < k / q8_0_block_size; ++b) {
        std::int32_t s = 0;
        for (int i = 0; i < 32; ++i) s += int(w[b].q[i]) * int(xq[b * 32 + i]);
        acc = std::fma(float(s), w[b].scale() * xs[b], acc);
    }
    return acc;
}

}  // namespace moe::cpu::kernels
