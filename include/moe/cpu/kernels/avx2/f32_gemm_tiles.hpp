// moe/cpu/kernels/avx2/f32_gemm_tiles.hpp — gemm_tiles.hpp's prefill tiles for AVX2 + FMA (x86-64-v3: 16 ymm
// registers): one K-chunk of ct (rows, np) (+)= W · X from packed, transposed fp32 activations.
//
// The same sums as gemm_tiles.hpp, bit for bit: ct[r][t] is one fused multiply-add chain over k in increasing
// order from +0 (continued across K-chunks through ct, stored as fp32 between them). Only the tile shape differs:
// 6 rows × 16 tokens (12 accumulators + 2 activation vectors + 1 broadcast weight of the 16 registers; the
// AVX-512 tiles of 8 × 32 need 32), then 12 rows × 8 tokens for a last group of 8 (np is a multiple of 8).
#pragma once

#include "moe/cpu/kernels/avx2/f32_dot_tiles.hpp"  // MOE_HAVE_AVX2_TILES

#if defined(MOE_HAVE_AVX2_TILES)
#include <immintrin.h>

#include <cstdint>

#include "moe/cpu/kernels/avx2/unroll.hpp"

namespace moe::cpu::kernels::avx2 {

inline constexpr int gemm_rows = 6;        // rows of a 16-token tile
inline constexpr int gemm_rows_8 = 12;     // rows of an 8-token tile

// ct[r · np + 8v + l] (+)= Σ_{k < kc} w[r · w_stride + k] · xt[k · np + 8v + l]   for r < Rows, v < Vectors, l < 8
// w: (Rows, kc) fp32 with row stride w_stride; xt: (kc, np) packed activations; ct: (Rows, np).
template <int Rows, int Vectors>
void gemm_tile(const float* w, std::int64_t w_stride, const float* xt, std::int64_t np, std::int64_t kc, float* ct,
               bool first_chunk) {
    __m256 acc[Rows][Vectors];
    MOE_AVX2_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_AVX2_UNROLL
        for (int v = 0; v < Vectors; ++v) acc[r][v] = first_chunk ? _mm256_setzero_ps() : _mm256_loadu_ps(ct + r * np + 8 * v);
    for (std::int64_t k = 0; k < kc; ++k) {
        __m256 xv[Vectors];
        MOE_AVX2_UNROLL
        for (int v = 0; v < Vectors; ++v) xv[v] = _mm256_loadu_ps(xt + k * np + 8 * v);
        MOE_AVX2_UNROLL
        for (int r = 0; r < Rows; ++r) {
            const __m256 wr = _mm256_broadcast_ss(w + r * w_stride + k);
            MOE_AVX2_UNROLL
            for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm256_fmadd_ps(wr, xv[v], acc[r][v]);
        }
    }
    MOE_AVX2_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_AVX2_UNROLL
        for (int v = 0; v < Vectors; ++v) _mm256_storeu_ps(ct + r * np + 8 * v, acc[r][v]);
}

// The last rows < Full of a token group, as one tile of that many rows.
template <int Vectors, int Full>
void gemm_rest(int rest, const float* w, std::int64_t w_stride, const float* xt, std::int64_t np, std::int64_t kc,
               float* ct, bool first_chunk) {
    if constexpr (Full > 1) {
        if (rest == Full - 1) return gemm_tile<Full - 1, Vectors>(w, w_stride, xt, np, kc, ct, first_chunk);
        return gemm_rest<Vectors, Full - 1>(rest, w, w_stride, xt, np, kc, ct, first_chunk);
    }
}

// gemm_tiles.hpp's gemm_chunk: all rows × all token groups of one K-chunk (np a multiple of 8).
// w: (rows, kc) fp32 with row stride w_stride; xt: (kc, np); ct: (rows, np).
[[gnu::noinline]] inline void gemm_chunk(const float* w, std::int64_t w_stride, std::int64_t rows, const float* xt,
                                         std::int64_t np, std::int64_t kc, float* ct, bool first_chunk) {
    std::int64_t t0 = 0;
    for (; t0 + 16 <= np; t0 += 16) {
        std::int64_t r = 0;
        for (; r + gemm_rows <= rows; r += gemm_rows)
            gemm_tile<gemm_rows, 2>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
        if (r < rows)
            gemm_rest<2, gemm_rows>(static_cast<int>(rows - r), w + r * w_stride, w_stride, xt + t0, np, kc,
                                    ct + r * np + t0, first_chunk);
    }
    if (t0 < np) {  // 8 tokens left
        std::int64_t r = 0;
        for (; r + gemm_rows_8 <= rows; r += gemm_rows_8)
            gemm_tile<gemm_rows_8, 1>(w + r * w_stride, w_stride, xt + t0, np, kc, ct + r * np + t0, first_chunk);
        if (r < rows)
            gemm_rest<1, gemm_rows_8>(static_cast<int>(rows - r), w + r * w_stride, w_stride, xt + t0, np, kc,
                                      ct + r * np + t0, first_chunk);
    }
}

}  // namespace moe::cpu::kernels::avx2
#endif
