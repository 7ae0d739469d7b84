// moe/cpu/kernels/kquant_gemm_tiles.hpp — X · Wᵀ for many tokens (prefill) with Q4_K, Q5_K or Q6_K weights and
// Q8_K-quantized activations: the GEMM counterpart of kquant_dot_tiles.hpp, as q8_gemm_tiles.hpp is of
// q8_dot_tiles.hpp.
//
// Operands (K a multiple of 256, n tokens, np = padded_tokens(n), B = K / 256 super-blocks):
//   xp: (73 · B, np) 32-bit words, activations quantized per token (quantize_row_q8_k) and packed per super-block
//       b in 73 rows — rows 73b + g (g < 64): the 4 signed bytes k = 256b + 4g … + 3 of token t in one word;
//       rows 73b + 64 + i (i < 8): bsums[2i] and bsums[2i + 1] as the low and high int16 of one word; row 73b + 72:
//       the token's d (fp32 bits). Tokens ≥ n are all zero — pack_q8_k;
//   w:  (rows, B) super-blocks, read in place: each group of Rows rows is unpacked once (kquant_unpack: the exact
//       integers, kquant_unpack.hpp) into the thread's scratch and then multiplied with every token;
//   ct: (rows, np) results transposed, ct[r · np + t].
// A register tile of Rows rows × 8·Vectors tokens (256-bit, AVX2): per 16 weights it broadcasts each row's 4-byte
// groups against the tokens' words (vpmaddubsw: unsigned weight × signed activation, two groups summed in 16 bits —
// at most 4 · 63 · 127 < 2^15), scales them by the row's 16-bit scale (vpmaddwd) into int32 sums, and adds the
// offsets (vpmaddwd of the row's two 16-bit offsets with the token's two bsums).
//
// Summation order, per output, over super-blocks b = 0, 1, … from +0, with S = Σ_l lane[l] and O = Σ_l offset[l]
// the exact integers of kquant_lane_sums (the same whatever the tile shape, path or thread count):
//   q4_k, q5_k:  acc = fma(float(S), dx · dw, acc);  acc = fma(float(O), −(dx · dmin), acc)
//   q6_k:        acc = fma(float(S − O), dx · dw, acc)
// It is not the dot-product tiles' order (8 lanes, then trees): a token's result can differ in the last bits
// between a call with ≤ 4 tokens and one with more, never with the number of threads.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "moe/cpu/kernels/avx2/unroll.hpp"
#include "moe/cpu/kernels/gemm_tiles.hpp"
#include "moe/cpu/kernels/kquant_dot_tiles.hpp"
#include "moe/cpu/kernels/kquant_unpack.hpp"
#include "moe/cpu/workspace.hpp"

namespace moe::cpu::kernels {

inline constexpr std::int64_t kquant_rows_per_block = 73;  // 64 rows of byte groups, 8 of bsums, the scale

constexpr std::int64_t kquant_packed_rows(std::int64_t k) { return k / qk_k * kquant_rows_per_block; }

// Packs one token's Q8_K block into column t of super-block b's 73 rows.
inline void pack_q8_k_block(const q8_k_block& x, std::int64_t b, std::int64_t t, std::int64_t np, std::uint32_t* xp) {
    std::uint32_t* rows = xp + b * kquant_rows_per_block * np + t;
    for (int g = 0; g < 64; ++g) std::memcpy(&rows[g * np], x.qs + 4 * g, 4);
    for (int i = 0; i < 8; ++i) std::memcpy(&rows[(64 + i) * np], x.bsums + 2 * i, 4);
    rows[72 * np] = std::bit_cast<std::uint32_t>(x.d);
}

// Zeroes column t of super-block b (a padded token: no products, scale 0).
inline void pack_q8_k_zero(std::int64_t b, std::int64_t t, std::int64_t np, std::uint32_t* xp) {
    std::uint32_t* rows = xp + b * kquant_rows_per_block * np + t;
    for (int g = 0; g < kquant_rows_per_block; ++g) rows[g * np] = 0;
}

// x: (n, K) fp32 with row stride x_stride  →  xp: (73 · K/256, np), see the header comment.
inline void pack_q8_k(const float* x, std::int64_t x_stride, std::int64_t n, std::int64_t k, std::uint32_t* xp) {
    const std::int64_t np = padded_tokens(n), blocks = k / qk_k;
    q8_k_block q;
    for (std::int64_t t = 0; t < np; ++t)
        for (std::int64_t b = 0; b < blocks; ++b) {
            if (t >= n) {
                pack_q8_k_zero(b, t, np, xp);
                continue;
            }
            quantize_row_q8_k(x + t * x_stride + b * qk_k, qk_k, &q);
            pack_q8_k_block(q, b, t, np, xp);
        }
}

namespace detail {

inline std::uint32_t kquant_word(const std::uint8_t* bytes) {
    std::uint32_t word;
    std::memcpy(&word, bytes, 4);
    return word;
}

// One super-block's step of the GEMM order for one output.
template <bool HasMin>
float kquant_gemm_step(std::int32_t s, std::int32_t o, float dx, const kquant_unpacked& w, float acc) {
    if constexpr (HasMin) {
        acc = std::fma(float(s), dx * w.d, acc);
        return std::fma(float(o), -(dx * w.dmin), acc);
    } else {
        return std::fma(float(s - o), dx * w.d, acc);
    }
}

// Portable: rows × lanes tokens from the unpacked rows u: (rows, blocks).
template <bool HasMin>
void kquant_gemm_portable(const kquant_unpacked* u, std::int64_t blocks, int rows, const std::uint32_t* xp,
                          std::int64_t np, int lanes, float* ct) {
    for (int r = 0; r < rows; ++r)
        for (int l = 0; l < lanes; ++l) {
            float acc = 0.0f;
            for (std::int64_t b = 0; b < blocks; ++b) {
                const kquant_unpacked& w = u[r * blocks + b];
                const std::uint32_t* rows_b = xp + b * kquant_rows_per_block * np + l;
                std::int32_t s = 0, o = 0;
                for (int g = 0; g < 64; ++g) {
                    const std::uint32_t word = rows_b[g * np];
                    std::int32_t p = 0;
                    for (int i = 0; i < 4; ++i)
                        p += std::int32_t{w.u[4 * g + i]} * static_cast<std::int8_t>(word >> (8 * i));
                    s += std::int32_t{w.scale[g / 4]} * p;
                }
                for (int i = 0; i < 8; ++i) {
                    const std::uint32_t word = rows_b[(64 + i) * np];
                    o += std::int32_t{w.offset[2 * i]} * static_cast<std::int16_t>(word & 0xFFFF) +
                         std::int32_t{w.offset[2 * i + 1]} * static_cast<std::int16_t>(word >> 16);
                }
                acc = kquant_gemm_step<HasMin>(s, o, std::bit_cast<float>(rows_b[72 * np]), w, acc);
            }
            ct[r * np + l] = acc;
        }
}

#if defined(MOE_HAVE_KQUANT_AVX2)
// ct[r · np + 8v + l] for r < Rows, v < Vectors (np is a multiple of 8, so vectors are whole).
template <bool HasMin, int Rows, int Vectors>
void kquant_gemm_tile_avx2(const kquant_unpacked* u, std::int64_t blocks, const std::uint32_t* xp, std::int64_t np,
                           float* ct) {
    auto load = [&](const std::uint32_t* p, int v) {
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 8 * v));
    };
    __m256 acc[Rows][Vectors];
    MOE_AVX2_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_AVX2_UNROLL
        for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm256_setzero_ps();
    for (std::int64_t b = 0; b < blocks; ++b) {
        const std::uint32_t* rows = xp + b * kquant_rows_per_block * np;
        const kquant_unpacked* w[Rows];
        MOE_AVX2_UNROLL
        for (int r = 0; r < Rows; ++r) w[r] = u + r * blocks + b;
        __m256i s[Rows][Vectors], o[Rows][Vectors];
        MOE_AVX2_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_AVX2_UNROLL
            for (int v = 0; v < Vectors; ++v) s[r][v] = _mm256_setzero_si256(), o[r][v] = _mm256_setzero_si256();
        for (int sixteen = 0; sixteen < kquant_sixteens; ++sixteen) {
            MOE_AVX2_UNROLL
            for (int half = 0; half < 2; ++half) {
                const int g = 4 * sixteen + 2 * half;
                __m256i x0[Vectors], x1[Vectors];
                MOE_AVX2_UNROLL
                for (int v = 0; v < Vectors; ++v) x0[v] = load(rows + g * np, v), x1[v] = load(rows + (g + 1) * np, v);
                MOE_AVX2_UNROLL
                for (int r = 0; r < Rows; ++r) {
                    const __m256i w0 = _mm256_set1_epi32(static_cast<int>(kquant_word(w[r]->u + 4 * g)));
                    const __m256i w1 = _mm256_set1_epi32(static_cast<int>(kquant_word(w[r]->u + 4 * g + 4)));
                    const __m256i scale = _mm256_set1_epi16(w[r]->scale[sixteen]);
                    MOE_AVX2_UNROLL
                    for (int v = 0; v < Vectors; ++v) {
                        const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w0, x0[v]), _mm256_maddubs_epi16(w1, x1[v]));
                        s[r][v] = _mm256_add_epi32(s[r][v], _mm256_madd_epi16(p, scale));
                    }
                }
            }
        }
        MOE_AVX2_UNROLL
        for (int i = 0; i < 8; ++i) {
            __m256i bs[Vectors];
            MOE_AVX2_UNROLL
            for (int v = 0; v < Vectors; ++v) bs[v] = load(rows + (64 + i) * np, v);
            MOE_AVX2_UNROLL
            for (int r = 0; r < Rows; ++r) {
                std::uint32_t pair;
                std::memcpy(&pair, w[r]->offset + 2 * i, 4);
                const __m256i offsets = _mm256_set1_epi32(static_cast<int>(pair));
                MOE_AVX2_UNROLL
                for (int v = 0; v < Vectors; ++v) o[r][v] = _mm256_add_epi32(o[r][v], _mm256_madd_epi16(offsets, bs[v]));
            }
        }
        MOE_AVX2_UNROLL
        for (int v = 0; v < Vectors; ++v) {
            const __m256 dx = _mm256_castsi256_ps(load(rows + 72 * np, v));
            MOE_AVX2_UNROLL
            for (int r = 0; r < Rows; ++r) {
                const __m256 d = _mm256_mul_ps(dx, _mm256_set1_ps(w[r]->d));
                if constexpr (HasMin) {
                    acc[r][v] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r][v]), d, acc[r][v]);
                    const __m256 dm = _mm256_xor_ps(_mm256_mul_ps(dx, _mm256_set1_ps(w[r]->dmin)), _mm256_set1_ps(-0.0f));
                    acc[r][v] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(o[r][v]), dm, acc[r][v]);
                } else {
                    acc[r][v] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s[r][v], o[r][v])), d, acc[r][v]);
                }
            }
        }
    }
    MOE_AVX2_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_AVX2_UNROLL
        for (int v = 0; v < Vectors; ++v) _mm256_storeu_ps(ct + r * np + 8 * v, acc[r][v]);
}
#endif

// ct (rows, np) for `rows` (≤ group) rows already unpacked in u: (rows, blocks).
template <bool HasMin>
void kquant_gemm_rows(const kquant_unpacked* u, std::int64_t blocks, int rows, const std::uint32_t* xp,
                      std::int64_t np, float* ct, bool portable) {
#if defined(MOE_HAVE_KQUANT_AVX2)
    if (!portable) {  // 16 registers: tiles of 2 rows × 16 tokens or 4 rows × 8 tokens
        for (std::int64_t t0 = 0; t0 < np; t0 += 16) {
            int r = 0;
            if (np - t0 >= 16) {
                for (; r + 2 <= rows; r += 2)
                    kquant_gemm_tile_avx2<HasMin, 2, 2>(u + r * blocks, blocks, xp + t0, np, ct + r * np + t0);
                for (; r < rows; ++r)
                    kquant_gemm_tile_avx2<HasMin, 1, 2>(u + r * blocks, blocks, xp + t0, np, ct + r * np + t0);
            } else {
                for (; r + 4 <= rows; r += 4)
                    kquant_gemm_tile_avx2<HasMin, 4, 1>(u + r * blocks, blocks, xp + t0, np, ct + r * np + t0);
                for (; r < rows; ++r)
                    kquant_gemm_tile_avx2<HasMin, 1, 1>(u + r * blocks, blocks, xp + t0, np, ct + r * np + t0);
            }
        }
        return;
    }
#endif
    (void)portable;
    kquant_gemm_portable<HasMin>(u, blocks, rows, xp, np, static_cast<int>(np), ct);
}

}  // namespace detail

// ct (rows, np) = W[0:rows] · X over all K, from packed activations xp (see the header comment).
// w: (rows, K/256) super-blocks with row stride w_stride blocks. `portable` forces the portable loop (tests).
template <class Block>
    requires is_kquant_block<Block>
void kquant_gemm_block_transposed(const std::uint32_t* xp, std::int64_t np, const Block* w, std::int64_t w_stride,
                                  std::int64_t rows, std::int64_t k, float* ct, bool portable = false) {
    if (rows == 0 || np == 0) return;
    constexpr std::int64_t group = 4;  // rows unpacked together: 4 · K/256 · 320 bytes, in L1/L2 for every token
    const std::int64_t blocks = k / qk_k;
    kquant_unpacked* u = scratch<kquant_unpacked>(scratch_slot::widened_chunk, group * blocks);
    for (std::int64_t r0 = 0; r0 < rows; r0 += group) {
        const int n = static_cast<int>(std::min(group, rows - r0));
        for (int r = 0; r < n; ++r)
            for (std::int64_t b = 0; b < blocks; ++b) kquant_unpack(w[(r0 + r) * w_stride + b], u[r * blocks + b]);
        detail::kquant_gemm_rows<kquant_has_min<Block>>(u, blocks, n, xp, np, ct + r0 * np, portable);
    }
}

// The plain-loop definition of one result (tests compare the tiles with it).
// x: (K/256) Q8_K blocks, w: (K/256) super-blocks.
template <class Block>
    requires is_kquant_block<Block>
float kquant_gemm_reference(const q8_k_block* x, const Block* w, std::int64_t k) {
    float acc = 0.0f;
    kquant_unpacked u;
    for (std::int64_t b = 0; b < k / qk_k; ++b) {
        kquant_unpack(w[b], u);
        std::int32_t lane[kquant_lanes], offset[kquant_lanes], s = 0, o = 0;
        kquant_lane_sums(u, x[b], lane, offset);
        for (int l = 0; l < kquant_lanes; ++l) s += lane[l], o += offset[l];
        acc = detail::kquant_gemm_step<kquant_has_min<Block>>(s, o, x[b].d, u, acc);
    }
    return acc;
}

}  // namespace moe::cpu::kernels
