// moe/cpu/kernels/dot_tiles.hpp — out = X · Wᵀ over a block of weight rows, without packing, on the CPU.
//
// Both operands are K-contiguous (X: tokens × K fp32 activations; W: rows × K weights in nn.Linear layout, fp32,
// bf16 or fp16, used in place — no pre-packed copy, so a memory-mapped bf16 checkpoint stays the only copy). The
// kernel computes register tiles of up to 4 weight rows × 5 tokens as dot products along K: each weight vector
// is loaded once, widened to fp32 in registers and used for all the tile's tokens; each activation vector is used
// for all the tile's rows. Decode (1–4 tokens) is bound by reading weights and reads each weight byte once;
// prefill is bound by FMAs, with X's tile in L1 and the weight block in L2.
//
// Summation order, the same on every path and for every tile shape (so results do not depend on the thread
// count, on how tokens are batched, or on whether the AVX-512 path is compiled in):
//   lane l (0..15) accumulates x[k]·w[k] for k ≡ l (mod 16), k < K − K mod 16, in increasing k (fused multiply-add);
//   the 16 lanes are summed as a tree: l + 8, then + 4, + 2, + 1;
//   the K mod 16 tail is added last, in increasing k.
// With AVX-512 (compile-time: __AVX512F__) the tiles use 512-bit registers; otherwise a portable loop computes
// the same sums (compilers vectorise it), with std::fma where the target has FMA so both paths are bit-identical.
// AVX2 + FMA targets (x86-64-v3) run kernels/avx2/f32_dot_tiles.hpp: the same chains in 256-bit registers.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "moe/cpu/kernels/avx2/f32_dot_tiles.hpp"  // x86-64-v3: AVX2 + FMA tiles (MOE_HAVE_AVX2_TILES)
#include "moe/cpu/kernels/neon/f32_tiles.hpp"  // ARM: fmla tiles (MOE_HAVE_NEON_TILES)
#include "moe/precision/half_types.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

// Fully unrolls a loop over a register tile's rows/tokens, so its accumulators stay in registers at -O2 as well
// as at -O3 (GCC 12 at -O2 keeps them in memory otherwise: measured 2.3x slower).
#if defined(__clang__)
#define MOE_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define MOE_UNROLL _Pragma("GCC unroll 32")
#else
#define MOE_UNROLL
#endif

namespace moe::cpu::kernels {

inline constexpr int dot_lanes = 16;
inline constexpr int tile_rows = 4;
// 5 tokens: 20 accumulators + 4 widened weight vectors + 1 activation vector fit the 32 registers without the
// compiler re-loading activations per row (it does at 6: 24 accumulators), measured ~12% faster.
inline constexpr int tile_tokens = 5;
inline constexpr int small_tile_tokens = 2;  // up to this many tokens, rows are taken one at a time

inline float fused_multiply_add(float a, float b, float c) {
#if defined(__FMA__) || defined(__AVX512F__) || defined(__ARM_FEATURE_FMA)
    return std::fma(a, b, c);
#else
    return a * b + c;
#endif
}

namespace detail {

inline float widen(float v) { return v; }
inline float widen(bfloat16 v) { return bfloat16::to_float(v.bits); }
inline float widen(float16 v) { return float16::to_float(v.bits); }

// The tree sum of 16 lanes (l + 8, + 4, + 2, + 1).
inline float tree_sum(float* lanes) {
    for (int width = dot_lanes / 2; width >= 1; width /= 2)
        for (int l = 0; l < width; ++l) lanes[l] += lanes[l + width];
    return lanes[0];
}

// Portable tile: Rows weight rows × Tokens tokens.
template <int Rows, int Tokens, class Storage>
void tile_portable(const float* const* x, const Storage* const* w, std::int64_t k, float* out, std::int64_t out_stride,
                   std::int64_t /*prefetch_ahead*/) {
    const std::int64_t k_vector = k - k % dot_lanes;
    float acc[Rows][Tokens][dot_lanes] = {};
    for (std::int64_t d = 0; d < k_vector; d += dot_lanes) {
        float wide[Rows][dot_lanes];
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r)
            for (int l = 0; l < dot_lanes; ++l) wide[r][l] = widen(w[r][d + l]);
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_UNROLL
            for (int t = 0; t < Tokens; ++t)
                for (int l = 0; l < dot_lanes; ++l) acc[r][t][l] = fused_multiply_add(x[t][d + l], wide[r][l], acc[r][t][l]);
    }
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            float sum = tree_sum(acc[r][t]);
            for (std::int64_t d = k_vector; d < k; ++d) sum = fused_multiply_add(x[t][d], widen(w[r][d]), sum);
            out[t * out_stride + r] = sum;
        }
}

#if defined(__AVX512F__)
template <class Storage>
inline __m512 load_wide(const Storage* p) {
    if constexpr (std::is_same_v<Storage, float>) {
        return _mm512_loadu_ps(p);
    } else if constexpr (std::is_same_v<Storage, bfloat16>) {
        // bf16 → fp32 is a 16-bit left shift; written with vector extensions because GCC 12's zero-extend and
        // shift intrinsics trip -Wuninitialized (their undefined passthrough operand) under -Werror.
        using u16x16 = std::uint16_t __attribute__((vector_size(32), aligned(2)));
        using u16x32 = std::uint16_t __attribute__((vector_size(64)));
        u16x16 bits;  // an unaligned load: clang does not honour aligned(2) on a vector typedef
        std::memcpy(&bits, p, sizeof(bits));
        const u16x16 zero = {};
        const u16x32 wide = __builtin_shufflevector(zero, bits, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23, 8,
                                                    24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        return reinterpret_cast<const __m512&>(wide);
    } else {
        // The zero-masking form with every lane selected: the same conversion, but GCC 12's plain _mm512_cvtph_ps
        // passes an undefined operand that trips -Wmaybe-uninitialized (GCC bug 105593).
        return _mm512_maskz_cvtph_ps(__mmask16(0xFFFF), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    }
}

// The same tree as tree_sum: lanes l and l + 8, then + 4, + 2, + 1. (Vector extensions rather than extract
// intrinsics: GCC 12's extract/cast intrinsics trip -Wuninitialized on their undefined passthrough operand.)
inline float tree_sum(__m512 v) {
    using v16 = float __attribute__((vector_size(64)));
    using v8 = float __attribute__((vector_size(32)));
    using v4 = float __attribute__((vector_size(16)));
    const v16 x = reinterpret_cast<v16&>(v);
    const v8 a = __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
    const v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b[0] + b[2]) + (b[1] + b[3]);
}

template <int Rows, int Tokens, class Storage>
void tile_avx512(const float* const* x, const Storage* const* w, std::int64_t k, float* out, std::int64_t out_stride,
                 std::int64_t prefetch_ahead) {
    const std::int64_t k_vector = k - k % dot_lanes;
    __m512 acc[Rows][Tokens];
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) acc[r][t] = _mm512_setzero_ps();
    for (std::int64_t d = 0; d < k_vector; d += dot_lanes) {
        __m512 wide[Rows];
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r) wide[r] = load_wide(w[r] + d);
        if constexpr (Tokens <= 2 && Rows > 1) {
            // Bound by reading weights: a tile's rows are short streams (a few KB) that the hardware prefetcher
            // does not get ahead of, so fetch the next tile's rows in lockstep.
            MOE_UNROLL
            for (int r = 0; r < Rows; ++r) __builtin_prefetch(w[r] + d + prefetch_ahead, 0, 3);
        }
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            const __m512 xv = _mm512_loadu_ps(x[t] + d);
            MOE_UNROLL
            for (int r = 0; r < Rows; ++r) acc[r][t] = _mm512_fmadd_ps(xv, wide[r], acc[r][t]);
        }
    }
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            float sum = tree_sum(acc[r][t]);
            for (std::int64_t d = k_vector; d < k; ++d) sum = fused_multiply_add(x[t][d], widen(w[r][d]), sum);
            out[t * out_stride + r] = sum;
        }
}
#endif

template <int Rows, int Tokens, class Storage>
void tile(const float* const* x, const Storage* const* w, std::int64_t k, float* out, std::int64_t out_stride,
          std::int64_t prefetch_ahead) {
#if defined(__AVX512F__)
    tile_avx512<Rows, Tokens>(x, w, k, out, out_stride, prefetch_ahead);
#elif defined(MOE_HAVE_AVX2_TILES)
    (void)prefetch_ahead;
    avx2::dot_tile<Rows, Tokens>(x, w, k, out, out_stride);
#elif defined(MOE_HAVE_NEON_TILES)
    (void)prefetch_ahead;
    neon::dot_tile<Rows, Tokens>(x, w, k, out, out_stride);
#else
    tile_portable<Rows, Tokens>(x, w, k, out, out_stride, prefetch_ahead);
#endif
}

template <int Rows, class Storage>
void tile_any_tokens(int tokens, const float* const* x, const Storage* const* w, std::int64_t k, float* out,
                     std::int64_t out_stride, std::int64_t prefetch_ahead) {
    static_assert(tile_tokens == 5, "add a case below for each token count up to tile_tokens");
    switch (tokens) {
        case 1: return tile<Rows, 1>(x, w, k, out, out_stride, prefetch_ahead);
        case 2: return tile<Rows, 2>(x, w, k, out, out_stride, prefetch_ahead);
        case 3: return tile<Rows, 3>(x, w, k, out, out_stride, prefetch_ahead);
        case 4: return tile<Rows, 4>(x, w, k, out, out_stride, prefetch_ahead);
        case 5: return tile<Rows, 5>(x, w, k, out, out_stride, prefetch_ahead);
        default: return;
    }
}

}  // namespace detail

// out[t · out_stride + r] = Σ_k x[t · x_stride + k] · w[r · w_stride + k]   for t < tokens, r < rows
// (the summation order in the header comment). Tokens are taken in tiles of 5 (outer loop: the tile's
// activations stay in L1), weight rows in tiles of 4 (inner loop: the block of rows stays in L2).
template <class Storage>
void dot_product_block(const float* x, std::int64_t x_stride, std::int64_t tokens, const Storage* w,
                       std::int64_t w_stride, std::int64_t rows, std::int64_t k, float* out, std::int64_t out_stride) {
    for (std::int64_t t0 = 0; t0 < tokens; t0 += tile_tokens) {
        const int tt = static_cast<int>(tokens - t0 < tile_tokens ? tokens - t0 : tile_tokens);
        const float* xs[tile_tokens];
        for (int t = 0; t < tt; ++t) xs[t] = x + (t0 + t) * x_stride;
        float* o = out + t0 * out_stride;
        // Few tokens (decode) are bound by reading weights: take the rows one at a time, so the block is read as
        // one sequential stream the hardware prefetcher follows (4-row tiles read 4 short streams and measured
        // 2-3× slower). More tokens are bound by FMAs: 4-row tiles reuse each activation load 4 times.
        const std::int64_t full = tt <= small_tile_tokens ? 0 : rows / tile_rows * tile_rows;
        for (std::int64_t r0 = 0; r0 < full; r0 += tile_rows) {
            const Storage* ws[tile_rows];
            for (int r = 0; r < tile_rows; ++r) ws[r] = w + (r0 + r) * w_stride;
            detail::tile_any_tokens<tile_rows>(tt, xs, ws, k, o + r0, out_stride, tile_rows * w_stride);
        }
        for (std::int64_t r = 0; r < rows - full; ++r) {
            const Storage* ws[1] = {w + (full + r) * w_stride};
            detail::tile_any_tokens<1>(tt, xs, ws, k, o + full + r, out_stride, w_stride);
        }
    }
}

// The plain-loop definition of the same sums (tests compare dot_product_block with it).
template <class Storage>
float dot_product_reference(const float* x, const Storage* w, std::int64_t k) {
    const std::int64_t k_vector = k - k % dot_lanes;
    float lanes[dot_lanes] = {};
    for (std::int64_t d = 0; d < k_vector; ++d) lanes[d % dot_lanes] = fused_multiply_add(x[d], detail::widen(w[d]), lanes[d % dot_lanes]);
    float sum = detail::tree_sum(lanes);
    for (std::int64_t d = k_vector; d < k; ++d) sum = fused_multiply_add(x[d], detail::widen(w[d]), sum);
    return sum;
}

}  // namespace moe::cpu::kernels
