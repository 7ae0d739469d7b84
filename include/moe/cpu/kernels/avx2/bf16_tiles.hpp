// moe/cpu/kernels/avx2/bf16_tiles.hpp — bf16 × bf16 products (weight_format::bf16_compute) for AVX2 + FMA
// (x86-64-v3), which has no bf16 dot-product instruction: the decode tiles of bf16_dot_tiles.hpp and the prefill
// tiles of bf16_gemm_tiles.hpp.
//
// Those headers define each lane's step as two fp32-rounded additions, odd product first, with denormal inputs
// and results flushed to zero (vdpbf16ps's definition). Here a bf16 pair (one 32-bit word) widens to two fp32
// values with an AND (odd element, already in the high half) and a shift (even element), and each addition is one
// FMA: a bf16 × bf16 product has 16 significant bits, so it is exact in fp32 and fma(x, w, acc) rounds once, as
// the definition does. Only the flushing is not reproduced per instruction (AVX2 has no per-instruction DAZ/FTZ,
// and doing it by hand would triple the instruction count). Instead the tiles run with MXCSR's denormal-operand
// and underflow flags cleared (DAZ/FTZ off): when neither flag is raised and no result is a denormal, every
// flush in the definition was a no-op and the results are its bits exactly; otherwise (denormal bf16 values, or
// sums below 2^-126 — products of values below ~2^-56) the caller recomputes the block with the portable loop.
// So the results are bit-identical to the portable loop and the AVX-512 path in every case.
//
// Tile shapes for 16 registers: decode 1–2 rows × 1–2 tokens (8 accumulators + 4 widened weight + 2 activation
// vectors); GEMM 4 rows × 16 tokens or 8 rows × 8 tokens from weights widened to fp32 one K-chunk at a time.
#pragma once

#include "moe/cpu/kernels/avx2/f32_dot_tiles.hpp"  // MOE_HAVE_AVX2_TILES

#if defined(MOE_HAVE_AVX2_TILES)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "moe/cpu/kernels/avx2/unroll.hpp"
#include "moe/cpu/workspace.hpp"
#include "moe/precision/half_types.hpp"

namespace moe::cpu::kernels::avx2 {

inline constexpr int bf16_step = 32;        // k values per step of the definition: 16 lanes × 2
inline constexpr int bf16_sub_rows = 2;     // decode sub-tile: 2 rows × 2 tokens
inline constexpr int bf16_sub_tokens = 2;
inline constexpr int bf16_gemm_rows = 4;    // GEMM: 4 rows × 16 tokens, 8 rows × 8 tokens
inline constexpr int bf16_gemm_rows_8 = 8;
inline constexpr std::int64_t bf16_gemm_k_chunk = 256;  // k values widened per chunk (an even number)

// While alive, MXCSR has its denormal-operand (DE) and underflow (UE) flags cleared, DAZ and FTZ off and those two
// exceptions masked; saw_denormal() tells whether a denormal was read or an inexact denormal produced since. The
// caller's MXCSR comes back on destruction, with any flags raised meanwhile added (they are sticky).
class denormal_watch {
public:
    denormal_watch() : saved_(_mm_getcsr()) {
        _mm_setcsr((saved_ & ~(flags | daz | ftz)) | denormal_mask | underflow_mask);
        asm volatile("" ::: "memory");  // the tiles' loads stay after this point
    }
    denormal_watch(const denormal_watch&) = delete;
    denormal_watch& operator=(const denormal_watch&) = delete;
    ~denormal_watch() { _mm_setcsr(saved_ | (_mm_getcsr() & flags)); }

    bool saw_denormal() const {
        asm volatile("" ::: "memory");  // and their stores before this one
        return (_mm_getcsr() & (denormal_flag | underflow_flag)) != 0;
    }

private:
    static constexpr unsigned flags = 0x3f, denormal_flag = 0x02, underflow_flag = 0x10, daz = 0x40, ftz = 0x8000;
    static constexpr unsigned denormal_mask = 0x100, underflow_mask = 0x800;
    unsigned saved_;
};

// Lanes of v that are denormal (0 < |v| < 2^-126), as a nonzero mask: a chain's last result is never an operand,
// so an exact denormal there raises no flag.
inline __m256i denormal_lanes(__m256 v) {
    const __m256i magnitude = _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x7fffffff));
    return _mm256_and_si256(_mm256_cmpgt_epi32(magnitude, _mm256_setzero_si256()),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(0x00800000), magnitude));
}

// 8 bf16 pairs (16 values, pair l = elements 2l and 2l + 1) as fp32: lane l of odd / even.
struct pairs8 {
    __m256 odd, even;
};
inline pairs8 load_pairs(const void* p) {
    const __m256i words = _mm256_loadu_si256(static_cast<const __m256i*>(p));
    return {_mm256_castsi256_ps(_mm256_and_si256(words, _mm256_set1_epi32(static_cast<int>(0xffff0000u)))),
            _mm256_castsi256_ps(_mm256_slli_epi32(words, 16))};
}

// One step of the definition (k values d … d + 31) for Rows × Tokens: lanes 0–7 in acc[..][0], 8–15 in [1].
template <int Rows, int Tokens>
inline void bf16_dot_step(__m256 (&acc)[Rows][Tokens][2], const bfloat16* const* x, const bfloat16* const* w,
                          std::int64_t d) {
    MOE_AVX2_UNROLL
    for (int half = 0; half < 2; ++half) {
        pairs8 wp[Rows];
        MOE_AVX2_UNROLL
        for (int r = 0; r < Rows; ++r) wp[r] = load_pairs(w[r] + d + 16 * half);
        MOE_AVX2_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            const pairs8 xp = load_pairs(x[t] + d + 16 * half);
            MOE_AVX2_UNROLL
            for (int r = 0; r < Rows; ++r) {
                acc[r][t][half] = _mm256_fmadd_ps(xp.odd, wp[r].odd, acc[r][t][half]);
                acc[r][t][half] = _mm256_fmadd_ps(xp.even, wp[r].even, acc[r][t][half]);
            }
        }
    }
}

// Rows ≤ 2 × Tokens ≤ 2: out[t · out_stride + r] = bf16_dot_tiles.hpp's sum (flags tell about denormals).
// x: Tokens pointers to (K) bf16 activations; w: Rows pointers to (K) bf16 weights.
template <int Rows, int Tokens>
void bf16_dot_sub_tile(const bfloat16* const* x, const bfloat16* const* w, std::int64_t k, float* out,
                       std::int64_t out_stride) {
    __m256 acc[Rows][Tokens][2];
    MOE_AVX2_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_AVX2_UNROLL
        for (int t = 0; t < Tokens; ++t) acc[r][t][0] = acc[r][t][1] = _mm256_setzero_ps();
    const std::int64_t full = k - k % bf16_step;
    for (std::int64_t d = 0; d < full; d += bf16_step) bf16_dot_step<Rows, Tokens>(acc, x, w, d);
    if (full < k) {  // the last step, zero-padded as the definition pads it
        bfloat16 xs[Tokens][bf16_step] = {}, ws[Rows][bf16_step] = {};
        const bfloat16* xt[Tokens];
        const bfloat16* wt[Rows];
        const auto bytes = static_cast<std::size_t>(k - full) * sizeof(bfloat16);
        for (int t = 0; t < Tokens; ++t) std::memcpy(xs[t], x[t] + full, bytes), xt[t] = xs[t];
        for (int r = 0; r < Rows; ++r) std::memcpy(ws[r], w[r] + full, bytes), wt[r] = ws[r];
        bf16_dot_step<Rows, Tokens>(acc, xt, wt, 0);
    }
    MOE_AVX2_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_AVX2_UNROLL
        for (int t = 0; t < Tokens; ++t) out[t * out_stride + r] = tree_sum(acc[r][t][0], acc[r][t][1]);
}

template <int Rows>
void bf16_dot_rows(int tokens, const bfloat16* const* x, const bfloat16* const* w, std::int64_t k, float* out,
                   std::int64_t out_stride) {
    if (tokens == 1) bf16_dot_sub_tile<Rows, 1>(x, w, k, out, out_stride);
    else bf16_dot_sub_tile<Rows, 2>(x, w, k, out, out_stride);
}

// bf16_dot_product_block's sums. False when a denormal was met: then `out` must be recomputed by the portable loop.
// x: (tokens, K) bf16 with row stride x_stride; w: (rows, K) with row stride w_stride; out: (tokens, out_stride).
inline bool bf16_dot_product_block(const bfloat16* x, std::int64_t x_stride, std::int64_t tokens, const bfloat16* w,
                                   std::int64_t w_stride, std::int64_t rows, std::int64_t k, float* out,
                                   std::int64_t out_stride) {
    const denormal_watch watch;
    // 1–2 tokens (decode): rows one at a time, one sequential stream of weights; more: 2 × 2 tiles.
    const int rows_per_tile = tokens <= bf16_sub_tokens ? 1 : bf16_sub_rows;
    for (std::int64_t t0 = 0; t0 < tokens; t0 += bf16_sub_tokens) {
        const int tt = static_cast<int>(std::min<std::int64_t>(bf16_sub_tokens, tokens - t0));
        const bfloat16* xs[bf16_sub_tokens] = {x + t0 * x_stride, x + (t0 + tt - 1) * x_stride};
        float* o = out + t0 * out_stride;
        std::int64_t r = 0;
        if (rows_per_tile == 2)
            for (; r + 2 <= rows; r += 2) {
                const bfloat16* ws[2] = {w + r * w_stride, w + (r + 1) * w_stride};
                bf16_dot_rows<2>(tt, xs, ws, k, o + r, out_stride);
            }
        for (; r < rows; ++r) {
            const bfloat16* ws[1] = {w + r * w_stride};
            bf16_dot_rows<1>(tt, xs, ws, k, o + r, out_stride);
        }
    }
    return !watch.saw_denormal();
}

// ct[r · np + 8v + l] (+)= the chain over `pairs` pairs, from weights widened to fp32 (wide: (Rows, 2 · pairs),
// row stride ws) and packed pairs xp (pairs, np). Returns the lanes whose result is a denormal.
template <int Rows, int Vectors>
__m256i bf16_gemm_tile(const float* wide, std::int64_t ws, const std::uint32_t* xp, std::int64_t np,
                       std::int64_t pairs, float* ct, bool first_chunk) {
    __m256 acc[Rows][Vectors];
    MOE_AVX2_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_AVX2_UNROLL
        for (int v = 0; v < Vectors; ++v) acc[r][v] = first_chunk ? _mm256_setzero_ps() : _mm256_loadu_ps(ct + r * np + 8 * v);
    for (std::int64_t p = 0; p < pairs; ++p) {
        pairs8 xv[Vectors];
        MOE_AVX2_UNROLL
        for (int v = 0; v < Vectors; ++v) xv[v] = load_pairs(xp + p * np + 8 * v);
        MOE_AVX2_UNROLL
        for (int r = 0; r < Rows; ++r) {
            const __m256 w_odd = _mm256_broadcast_ss(wide + r * ws + 2 * p + 1);
            const __m256 w_even = _mm256_broadcast_ss(wide + r * ws + 2 * p);
            MOE_AVX2_UNROLL
            for (int v = 0; v < Vectors; ++v) {
                acc[r][v] = _mm256_fmadd_ps(xv[v].odd, w_odd, acc[r][v]);
                acc[r][v] = _mm256_fmadd_ps(xv[v].even, w_even, acc[r][v]);
            }
        }
    }
    __m256i denormal = _mm256_setzero_si256();
    MOE_AVX2_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_AVX2_UNROLL
        for (int v = 0; v < Vectors; ++v) {
            denormal = _mm256_or_si256(denormal, denormal_lanes(acc[r][v]));
            _mm256_storeu_ps(ct + r * np + 8 * v, acc[r][v]);
        }
    return denormal;
}

template <int Vectors, int Full>
__m256i bf16_gemm_rest(int rest, const float* wide, std::int64_t ws, const std::uint32_t* xp, std::int64_t np,
                       std::int64_t pairs, float* ct, bool first_chunk) {
    if constexpr (Full > 1) {
        if (rest == Full - 1) return bf16_gemm_tile<Full - 1, Vectors>(wide, ws, xp, np, pairs, ct, first_chunk);
        return bf16_gemm_rest<Vectors, Full - 1>(rest, wide, ws, xp, np, pairs, ct, first_chunk);
    }
    return _mm256_setzero_si256();
}

// bf16_gemm_block_transposed's sums: ct (rows, np) = W · X from packed pairs xp (P, np) and bf16 weights w
// (rows, K). False when a denormal was met: then `ct` must be recomputed by the portable loop.
[[gnu::noinline]] inline bool bf16_gemm_block_transposed(const std::uint32_t* xp, std::int64_t np, const bfloat16* w,
                                                         std::int64_t w_stride, std::int64_t rows, std::int64_t k,
                                                         float* ct) {
    if (rows == 0 || np == 0) return true;
    if (k == 0) {
        std::fill(ct, ct + rows * np, 0.0f);
        return true;
    }
    float* wide = scratch<float>(scratch_slot::widened_chunk, rows * bf16_gemm_k_chunk);  // (rows, chunk)
    const denormal_watch watch;
    __m256i denormal = _mm256_setzero_si256();
    for (std::int64_t k0 = 0; k0 < k; k0 += bf16_gemm_k_chunk) {
        const std::int64_t kc = std::min(bf16_gemm_k_chunk, k - k0), pairs = (kc + 1) / 2;
        for (std::int64_t r = 0; r < rows; ++r) {  // widen the chunk (an odd K's last pair gets a zero odd element)
            const bfloat16* source = w + r * w_stride + k0;
            float* target = wide + r * bf16_gemm_k_chunk;
            std::int64_t d = 0;
            for (; d + 8 <= kc; d += 8) _mm256_storeu_ps(target + d, load8(source + d));
            for (; d < kc; ++d) target[d] = bfloat16::to_float(source[d].bits);
            if (kc % 2 != 0) target[kc] = 0.0f;
        }
        const std::uint32_t* xc = xp + k0 / 2 * np;
        const bool first = k0 == 0;
        std::int64_t t0 = 0;
        for (; t0 + 16 <= np; t0 += 16) {
            std::int64_t r = 0;
            for (; r + bf16_gemm_rows <= rows; r += bf16_gemm_rows)
                denormal = _mm256_or_si256(denormal, bf16_gemm_tile<bf16_gemm_rows, 2>(wide + r * bf16_gemm_k_chunk, bf16_gemm_k_chunk,
                                                                                      xc + t0, np, pairs, ct + r * np + t0, first));
            if (r < rows)
                denormal = _mm256_or_si256(denormal, bf16_gemm_rest<2, bf16_gemm_rows>(static_cast<int>(rows - r), wide + r * bf16_gemm_k_chunk,
                                                                                       bf16_gemm_k_chunk, xc + t0, np, pairs, ct + r * np + t0, first));
        }
        if (t0 < np) {  // 8 tokens left
            std::int64_t r = 0;
            for (; r + bf16_gemm_rows_8 <= rows; r += bf16_gemm_rows_8)
                denormal = _mm256_or_si256(denormal, bf16_gemm_tile<bf16_gemm_rows_8, 1>(wide + r * bf16_gemm_k_chunk, bf16_gemm_k_chunk,
                                                                                        xc + t0, np, pairs, ct + r * np + t0, first));
            if (r < rows)
                denormal = _mm256_or_si256(denormal, bf16_gemm_rest<1, bf16_gemm_rows_8>(static_cast<int>(rows - r), wide + r * bf16_gemm_k_chunk,
                                                                                         bf16_gemm_k_chunk, xc + t0, np, pairs, ct + r * np + t0, first));
        }
    }
    return !watch.saw_denormal() && _mm256_testz_si256(denormal, denormal);
}

}  // namespace moe::cpu::kernels::avx2
#endif
