// moe/cpu/kernels/bf16_dot_tiles.hpp — out = X · Wᵀ with bf16 × bf16 products (weight_format::bf16_compute).
//
// Same structure as dot_tiles.hpp (K-contiguous operands, register tiles of up to 4 weight rows × 5 tokens, rows
// one at a time for 1–2 tokens, weights read in place), but both operands are bf16: the caller rounds the
// activations to bf16 once (round to nearest even), and one AVX512-BF16 `vdpbf16ps` multiplies 32 pairs and adds
// them into 16 fp32 lanes — twice the work of an fp32 FMA per instruction, and no widening of the weights.
//
// Summation order, the same on every path and tile shape (so results do not depend on the thread count or on how
// tokens are batched):
//   K is taken in steps of 32 (the last step zero-padded); in step s, lane l (0..15) adds the products of
//   k = 32s + 2l + 1, then k = 32s + 2l, each rounded to fp32 — the order the instruction defines (Intel SDM) and
//   that AMD Zen 4 was checked to follow bit for bit; denormal inputs and results are flushed to zero, as the
//   instruction does;
//   the 16 lanes are then summed as a tree: l + 8, then + 4, + 2, + 1 (as in dot_tiles.hpp).
// With AVX512-BF16 (compile-time: __AVX512BF16__) the tiles use vdpbf16ps; otherwise a portable loop computes the
// same sums (tests check both against each other where the instruction exists).
// AVX2 + FMA targets (x86-64-v3) run kernels/avx2/bf16_tiles.hpp: the steps as exact FMAs, the portable loop for a
// block where a denormal was met.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "moe/cpu/kernels/avx2/bf16_tiles.hpp"  // x86-64-v3: FMA tiles (MOE_HAVE_AVX2_TILES)
#include "moe/cpu/kernels/dot_tiles.hpp"
#include "moe/cpu/kernels/neon/bf16_tiles.hpp"  // ARM: exact fmla steps (MOE_HAVE_NEON_TILES)
#include "moe/precision/half_types.hpp"

#if defined(__AVX512BF16__) && defined(__AVX512BW__)
#include <immintrin.h>
#define MOE_HAVE_AVX512_BF16 1
#endif

namespace moe::cpu::kernels {

inline constexpr int bf16_pairs_per_step = 16;  // fp32 lanes; each takes 2 products per step
inline constexpr int bf16_step = 32;            // k values per step

namespace detail {

inline float bf16_input(std::uint16_t bits) {
    // Denormal inputs count as zero (the instruction's DAZ).
    return (bits & 0x7f80u) == 0 ? std::bit_cast<float>(static_cast<std::uint32_t>(bits & 0x8000u) << 16)
                                 : bfloat16::to_float(bits);
}

inline float flush_denormal(float v) {
    return std::fabs(v) < std::numeric_limits<float>::min() ? std::copysign(0.0f, v) : v;
}

// One lane's two products of a step (odd k first), as vdpbf16ps adds them.
inline float bf16_pair_step(float acc, std::uint16_t x_even, std::uint16_t x_odd, std::uint16_t w_even,
                            std::uint16_t w_odd) {
    acc = flush_denormal(std::fma(bf16_input(x_odd), bf16_input(w_odd), acc));
    return flush_denormal(std::fma(bf16_input(x_even), bf16_input(w_even), acc));
}

inline std::uint16_t bits_at(const bfloat16* p, std::int64_t k, std::int64_t limit) { return k < limit ? p[k].bits : 0; }

template <int Rows, int Tokens>
void bf16_tile_portable(const bfloat16* const* x, const bfloat16* const* w, std::int64_t k, float* out,
                        std::int64_t out_stride) {
    float acc[Rows][Tokens][bf16_pairs_per_step] = {};
    for (std::int64_t d = 0; d < k; d += bf16_step) {
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_UNROLL
            for (int t = 0; t < Tokens; ++t)
                for (int l = 0; l < bf16_pairs_per_step; ++l) {
                    const std::int64_t e = d + 2 * l;
                    acc[r][t][l] = bf16_pair_step(acc[r][t][l], bits_at(x[t], e, k), bits_at(x[t], e + 1, k),
                                                  bits_at(w[r], e, k), bits_at(w[r], e + 1, k));
                }
    }
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) out[t * out_stride + r] = tree_sum(acc[r][t]);
}

#if defined(MOE_HAVE_AVX512_BF16)
// One step of Rows × Tokens vdpbf16ps; `Tail` loads the last, partial step zero-padded (k - d < 32 values).
template <int Rows, int Tokens, bool Tail>
inline void bf16_step_avx512(__m512 (&acc)[Rows][Tokens], const bfloat16* const* x, const bfloat16* const* w,
                             std::int64_t d, std::int64_t k) {
    __m512i wv[Rows];
    const __mmask32 keep = Tail ? static_cast<__mmask32>((std::uint64_t{1} << (k - d)) - 1) : ~__mmask32{0};
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r) wv[r] = Tail ? _mm512_maskz_loadu_epi16(keep, w[r] + d) : _mm512_loadu_si512(w[r] + d);
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) {
        const __m512i xv = Tail ? _mm512_maskz_loadu_epi16(keep, x[t] + d) : _mm512_loadu_si512(x[t] + d);
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r)
            acc[r][t] = _mm512_dpbf16_ps(acc[r][t], reinterpret_cast<__m512bh>(xv), reinterpret_cast<__m512bh>(wv[r]));
    }
}

template <int Rows, int Tokens>
void bf16_tile_avx512(const bfloat16* const* x, const bfloat16* const* w, std::int64_t k, float* out,
                      std::int64_t out_stride) {
    __m512 acc[Rows][Tokens];
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) acc[r][t] = _mm512_setzero_ps();
    const std::int64_t full = k - k % bf16_step;
    for (std::int64_t d = 0; d < full; d += bf16_step) bf16_step_avx512<Rows, Tokens, false>(acc, x, w, d, k);
    if (full < k) bf16_step_avx512<Rows, Tokens, true>(acc, x, w, full, k);
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) out[t * out_stride + r] = tree_sum(acc[r][t]);
}
#endif

template <int Rows, int Tokens>
void bf16_tile(const bfloat16* const* x, const bfloat16* const* w, std::int64_t k, float* out, std::int64_t out_stride,
               bool portable) {
#if defined(MOE_HAVE_AVX512_BF16)
    if (!portable) return bf16_tile_avx512<Rows, Tokens>(x, w, k, out, out_stride);
#elif defined(MOE_HAVE_NEON_TILES)
    if (!portable) return neon::bf16_dot_tile<Rows, Tokens>(x, w, k, out, out_stride);
#endif
    (void)portable;
    bf16_tile_portable<Rows, Tokens>(x, w, k, out, out_stride);
}

template <int Rows>
void bf16_tile_any_tokens(int tokens, const bfloat16* const* x, const bfloat16* const* w, std::int64_t k, float* out,
                          std::int64_t out_stride, bool portable) {
    static_assert(tile_tokens == 5, "add a case below for each token count up to tile_tokens");
    switch (tokens) {
        case 1: return bf16_tile<Rows, 1>(x, w, k, out, out_stride, portable);
        case 2: return bf16_tile<Rows, 2>(x, w, k, out, out_stride, portable);
        case 3: return bf16_tile<Rows, 3>(x, w, k, out, out_stride, portable);
        case 4: return bf16_tile<Rows, 4>(x, w, k, out, out_stride, portable);
        case 5: return bf16_tile<Rows, 5>(x, w, k, out, out_stride, portable);
        default: return;
    }
}

}  // namespace detail

// True when bf16_dot_product_block runs vdpbf16ps (compiled with AVX512-BF16), false for the portable loop.
inline constexpr bool bf16_dot_uses_avx512 =
#if defined(MOE_HAVE_AVX512_BF16)
    true;
#else
    false;
#endif

// out[t · out_stride + r] = Σ_k x[t · x_stride + k] · w[r · w_stride + k]   for t < tokens, r < rows,
// bf16 × bf16 in the summation order of the header comment. `portable` forces the portable loop (tests).
inline void bf16_dot_product_block(const bfloat16* x, std::int64_t x_stride, std::int64_t tokens, const bfloat16* w,
                                   std::int64_t w_stride, std::int64_t rows, std::int64_t k, float* out,
                                   std::int64_t out_stride, bool portable = false) {
#if defined(MOE_HAVE_AVX2_TILES)
    // The AVX2 tiles, unless a denormal was met (then this block is redone by the portable loop).
    if (!portable && avx2::bf16_dot_product_block(x, x_stride, tokens, w, w_stride, rows, k, out, out_stride)) return;
    portable = true;
#endif
    for (std::int64_t t0 = 0; t0 < tokens; t0 += tile_tokens) {
        const int tt = static_cast<int>(tokens - t0 < tile_tokens ? tokens - t0 : tile_tokens);
        const bfloat16* xs[tile_tokens];
        for (int t = 0; t < tt; ++t) xs[t] = x + (t0 + t) * x_stride;
        float* o = out + t0 * out_stride;
        // As in dot_product_block: 1–2 tokens read rows one at a time (one sequential stream), more take 4-row
        // tiles so each activation load serves 4 rows.
        const std::int64_t full = tt <= small_tile_tokens ? 0 : rows / tile_rows * tile_rows;
        for (std::int64_t r0 = 0; r0 < full; r0 += tile_rows) {
            const bfloat16* ws[tile_rows];
            for (int r = 0; r < tile_rows; ++r) ws[r] = w + (r0 + r) * w_stride;
            detail::bf16_tile_any_tokens<tile_rows>(tt, xs, ws, k, o + r0, out_stride, portable);
        }
        for (std::int64_t r = 0; r < rows - full; ++r) {
            const bfloat16* ws[1] = {w + (full + r) * w_stride};
            detail::bf16_tile_any_tokens<1>(tt, xs, ws, k, o + full + r, out_stride, portable);
        }
    }
}

// The plain-loop definition of the same sum for one token and one row (tests compare the tiles with it).
inline float bf16_dot_product_reference(const bfloat16* x, const bfloat16* w, std::int64_t k) {
    float lanes[bf16_pairs_per_step] = {};
    for (std::int64_t d = 0; d < k; d += bf16_step)
        for (int l = 0; l < bf16_pairs_per_step; ++l) {
            const std::int64_t e = d + 2 * l;
            lanes[l] = detail::bf16_pair_step(lanes[l], detail::bits_at(x, e, k), detail::bits_at(x, e + 1, k),
                                              detail::bits_at(w, e, k), detail::bits_at(w, e + 1, k));
        }
    return detail::tree_sum(lanes);
}

}  // namespace moe::cpu::kernels
