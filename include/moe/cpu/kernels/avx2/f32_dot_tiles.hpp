// moe/cpu/kernels/avx2/f32_dot_tiles.hpp — dot_tiles.hpp's register tiles for AVX2 + FMA (x86-64-v3: 16 ymm
// registers), fp32 activations against fp32, bf16 or fp16 weights.
//
// The same sums as dot_tiles.hpp, bit for bit: its 16 lanes are two 256-bit registers (lanes 0–7 and 8–15), each
// lane one fused multiply-add chain over k ≡ l (mod 16) in increasing k; then the tree l + 8, + 4, + 2, + 1; then
// the K mod 16 tail in increasing k. Only the tile shape differs: with 16 registers (the AVX-512 tiles assume 32) a
// sub-tile holds at most 2 rows × 3 tokens — 12 accumulators, 2 widened weight vectors, 1 activation vector — so
// dot_tiles.hpp's 4-row × 5-token tiles run here as several sub-tiles, each one pass over K (the tile's rows and
// activations stay in L1/L2; the order inside each output does not change).
// Compiled in when the target has AVX2, FMA and F16C but not AVX-512 (which has its own tiles): MOE_HAVE_AVX2_TILES.
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && !defined(__AVX512F__)
#define MOE_HAVE_AVX2_TILES 1
#endif

#if defined(MOE_HAVE_AVX2_TILES)
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "moe/cpu/kernels/avx2/unroll.hpp"
#include "moe/precision/half_types.hpp"

namespace moe::cpu::kernels::avx2 {

inline constexpr int dot_lanes = 16;        // dot_tiles.hpp's lanes: two 256-bit registers
inline constexpr int dot_sub_rows = 2;      // a sub-tile: 2 rows × 3 tokens = 12 accumulator registers
inline constexpr int dot_sub_tokens = 3;

// 8 weights from p (8 consecutive values), widened to fp32 exactly.
template <class Storage>
inline __m256 load8(const Storage* p) {
    if constexpr (std::is_same_v<Storage, float>) {
        return _mm256_loadu_ps(p);
    } else if constexpr (std::is_same_v<Storage, bfloat16>) {
        const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));  // bf16 → fp32: a shift
    } else {
        static_assert(std::is_same_v<Storage, float16>, "weights are float, bfloat16 or float16");
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
}

// dot_tiles.hpp's tree over lanes 0–7 (lo) and 8–15 (hi): l + 8, then + 4, + 2, + 1.
inline float tree_sum(__m256 lo, __m256 hi) {
    const __m256 a = _mm256_add_ps(lo, hi);                                                  // l + 8
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));     // + 4
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));                                     // + 2
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));                                 // + 1
}

// Rows ≤ 2 weight rows × Tokens ≤ 3 tokens: out[t · out_stride + r] = the dot product in dot_tiles.hpp's order.
// x: Tokens pointers to (K) fp32; w: Rows pointers to (K) weights.
template <int Rows, int Tokens, class Storage>
void dot_sub_tile(const float* const* x, const Storage* const* w, std::int64_t k, float* out, std::int64_t out_stride) {
    static_assert(Rows >= 1 && Rows <= dot_sub_rows && Tokens >= 1 && Tokens <= dot_sub_tokens);
    const std::int64_t k_vector = k - k % dot_lanes;
    __m256 acc[Rows][Tokens][2];
    MOE_AVX2_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_AVX2_UNROLL
        for (int t = 0; t < Tokens; ++t) acc[r][t][0] = acc[r][t][1] = _mm256_setzero_ps();
    for (std::int64_t d = 0; d < k_vector; d += dot_lanes) {
        MOE_AVX2_UNROLL
        for (int half = 0; half < 2; ++half) {
            __m256 wide[Rows];
            MOE_AVX2_UNROLL
            for (int r = 0; r < Rows; ++r) wide[r] = load8(w[r] + d + 8 * half);
            MOE_AVX2_UNROLL
            for (int t = 0; t < Tokens; ++t) {
                const __m256 xv = _mm256_loadu_ps(x[t] + d + 8 * half);
                MOE_AVX2_UNROLL
                for (int r = 0; r < Rows; ++r) acc[r][t][half] = _mm256_fmadd_ps(xv, wide[r], acc[r][t][half]);
            }
        }
    }
    MOE_AVX2_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_AVX2_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            float sum = tree_sum(acc[r][t][0], acc[r][t][1]);
            for (std::int64_t d = k_vector; d < k; ++d) sum = std::fma(x[t][d], to_float(w[r][d]), sum);
            out[t * out_stride + r] = sum;
        }
}

// Tokens ≤ 5 split into sub-tiles of at most 3: 4 → 2 + 2, 5 → 3 + 2 (fewer passes than 3 + 1 + 1).
template <int Rows, int Tokens, class Storage>
void dot_tile_tokens(const float* const* x, const Storage* const* w, std::int64_t k, float* out, std::int64_t out_stride) {
    constexpr int first = Tokens <= dot_sub_tokens ? Tokens : Tokens == 4 ? 2 : dot_sub_tokens;
    dot_sub_tile<Rows, first>(x, w, k, out, out_stride);
    if constexpr (Tokens > first) dot_tile_tokens<Rows, Tokens - first>(x + first, w, k, out + first * out_stride, out_stride);
}

// dot_tiles.hpp's Rows × Tokens tile (up to 4 × 5) as 2-row sub-tiles. No software prefetch: the AVX-512 tiles
// prefetch only in multi-row tiles of ≤ 2 tokens, which dot_product_block never forms (1–2 tokens take rows one
// at a time, a sequential stream the hardware prefetcher follows).
template <int Rows, int Tokens, class Storage>
void dot_tile(const float* const* x, const Storage* const* w, std::int64_t k, float* out, std::int64_t out_stride) {
    constexpr int first = Rows < dot_sub_rows ? Rows : dot_sub_rows;
    dot_tile_tokens<first, Tokens>(x, w, k, out, out_stride);
    if constexpr (Rows > first) dot_tile<Rows - first, Tokens>(x, w + first, k, out + first, out_stride);
}

}  // namespace moe::cpu::kernels::avx2
#endif
