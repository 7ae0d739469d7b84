// moe/cpu/kernels/gemm_tiles.hpp — X · Wᵀ for many tokens (prefill) with fp32 activations: a register-blocked GEMM
// that broadcasts weights against packed, transposed activations.
//
// Operands (K = inner width, n = tokens, np = padded_tokens(n): a multiple of 32 plus 0, 8 or 16):
//   xt: (K, np) activations transposed, xt[k · np + t], tokens ≥ n zero — packed once per matrix product by
//       pack_transposed (or written in this layout by the previous product: pack_features in cpu/formats/);
//   w:  (rows, K) weights in nn.Linear layout, fp32/bf16/fp16, read in place; bf16/fp16 rows are widened to fp32
//       one K-chunk at a time into a small scratch block (sequential and cheap next to the FMAs);
//   ct: (rows, np) results transposed, ct[r · np + t].
// A register tile holds Rows weight rows × 16·Vectors tokens (16 accumulators; 8 tokens in 256-bit registers for a
// last group of 8): per k it loads Vectors activation
// vectors, broadcasts each row's weight and does Rows·Vectors FMAs — bound by the FMA units, not by loads, unlike
// the dot-product tiles of dot_tiles.hpp (which stay the kernel for 1–4 tokens, where reading weights dominates).
// K is processed in chunks of gemm_k_chunk so the widened weights and the activations of a chunk stay in L2.
//
// Summation order: ct[r][t] is one fused multiply-add chain over k = 0, 1, …, K − 1 in increasing order starting
// from +0, whatever the tile shape, chunking or thread count; the portable path (std::fma) computes the same
// chain, so both are bit-identical. This is not the order of the dot-product tiles (16 lanes, then a tree): a
// token's result can differ in the last bits between a call where it shares the weights with ≤ 4 tokens and one
// with more — never with the number of threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "moe/cpu/kernels/avx2/f32_gemm_tiles.hpp"  // x86-64-v3: 6 × 16 FMA tiles (MOE_HAVE_AVX2_TILES)
#include "moe/cpu/kernels/dot_tiles.hpp"
#include "moe/cpu/workspace.hpp"
#include "moe/precision/half_types.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace moe::cpu::kernels {

inline constexpr std::int64_t gemm_k_chunk = 256;

// The column count of packed activations: tokens in groups of 32 (the fastest tile: 2 vectors per broadcast
// weight), the rest padded to 8, 16 or 32 — a 256-bit tile for up to 8 left, a 512-bit one for up to 16, another
// 32-token tile above (padding 17–31 tokens to 32 measured faster than a 16- plus an 8-token tile).
constexpr std::int64_t padded_tokens(std::int64_t n) {
    const std::int64_t rest = n % 32;
    return n - rest + (rest == 0 ? 0 : rest <= 8 ? 8 : rest <= 16 ? 16 : 32);
}

// x: (n, K) with row stride x_stride  →  xt: (K, np), zero-padded tokens.
inline void pack_transposed(const float* x, std::int64_t x_stride, std::int64_t n, std::int64_t k, float* xt) {
    const std::int64_t np = padded_tokens(n);
    constexpr std::int64_t block = 16;  // 16 × 16 blocks: reads and writes both stay within a few cache lines
    for (std::int64_t k0 = 0; k0 < k; k0 += block) {
        const std::int64_t k1 = std::min(k, k0 + block);
        for (std::int64_t t0 = 0; t0 < np; t0 += block) {
            const std::int64_t t_count = std::min(block, np - t0);
            for (std::int64_t d = k0; d < k1; ++d) {
                float* out = xt + d * np + t0;
                for (std::int64_t t = 0; t < t_count; ++t) out[t] = t0 + t < n ? x[(t0 + t) * x_stride + d] : 0.0f;
            }
        }
    }
}

namespace detail {

// ct[r · np + 16v + l] (+)= Σ_{k < kc} w[r · w_stride + k] · xt[k · np + 16v + l]   for r < Rows, v < Vectors
template <int Rows, int Vectors>
void gemm_tile(const float* w, std::int64_t w_stride, const float* xt, std::int64_t np, std::int64_t kc, float* ct,
               bool first_chunk) {
#if defined(__AVX512F__)
    __m512 acc[Rows][Vectors];
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int v = 0; v < Vectors; ++v)
            acc[r][v] = first_chunk ? _mm512_setzero_ps() : _mm512_loadu_ps(ct + r * np + 16 * v);
    for (std::int64_t k = 0; k < kc; ++k) {
        __m512 xv[Vectors];
        MOE_UNROLL
        for (int v = 0; v < Vectors; ++v) xv[v] = _mm512_loadu_ps(xt + k * np + 16 * v);
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r) {
            const __m512 wr = _mm512_set1_ps(w[r * w_stride + k]);
            MOE_UNROLL
            for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm512_fmadd_ps(wr, xv[v], acc[r][v]);
        }
    }
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int v = 0; v < Vectors; ++v) _mm512_storeu_ps(ct + r * np + 16 * v, acc[r][v]);
#else
    float acc[Rows][16 * Vectors];
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        for (int l = 0; l < 16 * Vectors; ++l) acc[r][l] = first_chunk ? 0.0f : ct[r * np + l];
    for (std::int64_t k = 0; k < kc; ++k)
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r) {
            const float wr = w[r * w_stride + k];
            for (int l = 0; l < 16 * Vectors; ++l) acc[r][l] = fused_multiply_add(wr, xt[k * np + l], acc[r][l]);
        }
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        for (int l = 0; l < 16 * Vectors; ++l) ct[r * np + l] = acc[r][l];
#endif
}

// ct[r · np + l] (+)= Σ_{k < kc} w[r · w_stride + k] · xt[k · np + l]   for r < Rows, l < 8 (256-bit vectors)
template <int Rows>
void gemm_tile8(const float* w, std::int64_t w_stride, const float* xt, std::int64_t np, std::int64_t kc, float* ct,
                bool first_chunk) {
#if defined(__AVX512F__)
    __m256 acc[Rows];
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r) acc[r] = first_chunk ? _mm256_setzero_ps() : _mm256_loadu_ps(ct + r * np);
    for (std::int64_t k = 0; k < kc; ++k) {
        const __m256 xv = _mm256_loadu_ps(xt + k * np);
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r) acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(w[r * w_stride + k]), xv, acc[r]);
    }
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r) _mm256_storeu_ps(ct + r * np, acc[r]);
#else
    float acc[Rows][8];
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        for (int l = 0; l < 8; ++l) acc[r][l] = first_chunk ? 0.0f : ct[r * np + l];
    for (std::int64_t k = 0; k < kc; ++k)
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r)
            for (int l = 0; l < 8; ++l) acc[r][l] = fused_multiply_add(w[r * w_stride + k], xt[k * np + l], acc[r][l]);
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        for (int l = 0; l < 8; ++l) ct[r * np + l] = acc[r][l];
#endif
}

// All rows × all token groups of one K-chunk: 8-row × 32-token tiles, then a 16-row × 16-token or a 16-row ×
// 8-token tile for what is left of the tokens (see padded_tokens), single rows for the remainder of the rows.
// Not inlined: one call per K-chunk costs nothing, and inlined into callers whose row counts GCC 12 half-knows it
// warns (-Waggressive-loop-optimizations) about row loops it wrongly thinks could overflow.
[[gnu::noinline]] inline void gemm_chunk(const float* w, std::int64_t w_stride, std::int64_t rows, const float* xt, std::int64_t np,
                       std::int64_t kc, float* ct, bool first_chunk) {
#if defined(MOE_HAVE_AVX2_TILES)
    return avx2::gemm_chunk(w, w_stride, rows, xt, np, kc, ct, first_chunk);
#endif
#if defined(MOE_HAVE_NEON_TILES)
    return neon::gemm_chunk(w, w_stride, rows, xt, np, kc, ct, first_chunk);
#endif
    std::int64_t t0 = 0;
    for (; t0 + 32 <= np; t0 += 32) {
        std::int64_t r = 0;
        for (; r + 8 <= rows; r += 8) gemm_tile<8, 2>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
        for (; r < rows; ++r) gemm_tile<1, 2>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
    }
    if (np - t0 == 16) {  // a vector of 16 tokens left
        std::int64_t r = 0;
        for (; r + 16 <= rows; r += 16) gemm_tile<16, 1>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
        for (; r < rows; ++r) gemm_tile<1, 1>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
    } else if (np - t0 == 8) {  // 8 tokens left
        std::int64_t r = 0;
        for (; r + 16 <= rows; r += 16) gemm_tile8<16>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
        for (; r < rows; ++r) gemm_tile8<1>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
    }
}

}  // namespace detail

// ct (rows, np) = W[0:rows] · X over all K, from packed activations xt (K, np) (see the header comment).
template <class Storage>
void gemm_block_transposed(const float* xt, std::int64_t np, const Storage* w, std::int64_t w_stride,
                           std::int64_t rows, std::int64_t k, float* ct) {
    if (rows == 0 || np == 0) return;
    if (k == 0) {
        std::fill(ct, ct + rows * np, 0.0f);
        return;
    }
    float* wide = nullptr;  // (rows, gemm_k_chunk) widened weights of one chunk: the thread's scratch
    if constexpr (!std::is_same_v<Storage, float>) wide = scratch<float>(scratch_slot::widened_chunk, rows * gemm_k_chunk);
    for (std::int64_t k0 = 0; k0 < k; k0 += gemm_k_chunk) {
        const std::int64_t kc = std::min(gemm_k_chunk, k - k0);
        const float* wc = nullptr;
        std::int64_t wc_stride = 0;
        if constexpr (std::is_same_v<Storage, float>) {
            wc = w + k0;
            wc_stride = w_stride;
        } else {
            for (std::int64_t r = 0; r < rows; ++r) {
                const Storage* source = w + r * w_stride + k0;
                float* target = wide + r * gemm_k_chunk;
                std::int64_t d = 0;
#if defined(__AVX512F__)
                for (; d + 16 <= kc; d += 16) _mm512_storeu_ps(target + d, detail::load_wide(source + d));
#elif defined(MOE_HAVE_AVX2_TILES)
                for (; d + 8 <= kc; d += 8) _mm256_storeu_ps(target + d, avx2::load8(source + d));
#elif defined(MOE_HAVE_NEON_TILES)
                for (; d + 16 <= kc; d += 16) neon::store_wide16(target + d, neon::load_wide16(source + d));
#endif
                for (; d < kc; ++d) target[d] = detail::widen(source[d]);
            }
            wc = wide;
            wc_stride = gemm_k_chunk;
        }
        detail::gemm_chunk(wc, wc_stride, rows, xt + k0 * np, np, kc, ct, k0 == 0);
    }
}

// The plain-loop definition of one result (tests compare the tiles with it).
template <class Storage>
float gemm_reference(const float* x, const Storage* w, std::int64_t k) {
    float sum = 0.0f;
    for (std::int64_t d = 0; d < k; ++d) sum = fused_multiply_add(detail::widen(w[d]), x[d], sum);
    return sum;
}

}  // namespace moe::cpu::kernels
