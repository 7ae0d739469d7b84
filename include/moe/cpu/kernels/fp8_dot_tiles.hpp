// moe/cpu/kernels/fp8_dot_tiles.hpp — out = X · Wᵀ with fp8 e4m3 weights in 128-weight blocks (decode).
//
// W is (rows, K) in fp8_e4m3_block rows (128 e4m3 codes + an fp32 scale per block, read in place); X is fp32,
// used as it is. Codes are decoded in registers (exactly) to w = decode(q) · 2^-8, multiplied with the activations
// in fp32, and each block's partial sums are scaled once by scale · 2^8: y = Σ_b (scale_b · 2^8) · Σ_i w_i · x_i.
// (The 2^8 moves from every weight to the block: e4m3 codes widen to decode(q) · 2^-8 through fp16 in fewer
// instructions, avx2/fp8_decode.hpp. It changes no bit unless a product or partial sum falls below fp32's normal
// range or scale · 2^8 overflows — and both are part of the definition here, so every path gives the same bits.)
// Decode (1–4 tokens) reads each weight byte once: rows are taken one at a time (decoding, not loading
// activations, is the work per byte here, so more rows per tile would not save any), tokens in tiles of up to 4.
//
// Summation order, the same on every path (so results do not depend on the thread count, on how tokens are
// batched, or on which path is compiled in):
//   lane l (0..15) of block b: p = fma chain of w(q[i]) · x[i] over i = 128b + 16j + l, j = 0..7, from +0;
//   acc_l = fma(scale_b · 2^8, p, acc_l) over b = 0, 1, … from +0 (scale_b · 2^8 rounded to fp32: exact unless
//   it overflows);
//   then the tree of dot_tiles.hpp over the 16 lanes: l + 8, + 4, + 2, + 1.
// Paths, chosen at compile time (each decodes every code to the same fp32 bits as fp8_dot_weights, NaN codes
// included — tests/precision/test_fp8_e4m3.cpp checks all 256 and the tiles against the plain loop bit for bit):
// - AVX-512F: 16 codes → 16 lanes by arithmetic: the code's magnitude shifted into an fp32 exponent and mantissa
//   and rebiased (normal codes), a 16-entry permute for the 8 subnormals (no fp32 denormal is ever an operand, so
//   DAZ/FTZ modes do not change the result), a masked NaN, the sign OR'd back.
// - AVX2 + FMA + F16C (x86-64-v3, MOE_HAVE_AVX2_TILES): avx2/fp8_decode.hpp — the code placed as an fp16 and
//   widened by vcvtph2ps; NaN codes are looked for once per block (none: the decode skips their fix-up). Two
//   blocks at a time, so the core overlaps two chains per lane.
// - ARM NEON (AArch64, MOE_HAVE_NEON_TILES): neon/fp8_decode.hpp, the same fp16 placement widened by fcvtl.
// - otherwise a portable loop over the 256-entry table.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "moe/cpu/kernels/avx2/fp8_decode.hpp"  // x86-64-v3 decoders (MOE_HAVE_AVX2_TILES)
#include "moe/cpu/kernels/dot_tiles.hpp"  // fused_multiply_add, tree_sum, MOE_UNROLL
#include "moe/cpu/kernels/neon/fp8_decode.hpp"  // ARM decoders (MOE_HAVE_NEON_TILES)
#include "moe/precision/fp8_e4m3.hpp"

#if defined(__AVX512F__) || defined(MOE_HAVE_AVX2_TILES)
#include <immintrin.h>
#endif

namespace moe::cpu::kernels {

inline constexpr int fp8_lanes = 16;                            // the 16 lanes of the summation order
inline constexpr int fp8_groups = fp8_block_size / fp8_lanes;   // 8 groups of 16 weights per block
inline constexpr float fp8_dot_rebias = 256.0f;                 // 2^8: moved from every weight to the block scale

// The weights the decode tiles multiply: decode(q) · 2^-8 for every code (exact; NaN codes stay fp8_e4m3_values'
// NaN, sign included).
inline constexpr std::array<float, 256> fp8_dot_weights = [] {
    std::array<float, 256> values{};
    for (std::size_t c = 0; c < 256; ++c)
        values[c] = (c & 0x7Fu) == 0x7Fu ? fp8_e4m3_values[c] : fp8_e4m3_values[c] * (1.0f / fp8_dot_rebias);
    return values;
}();

namespace fp8_detail {

// 16 fp32 lanes, one type per path: zero, load 16 activations, decode 16 codes (to decode(q) for the GEMM tiles,
// to fp8_dot_weights for the decode tiles), store, fma, the tree sum.
struct lanes_portable {
    struct type {
        float l[fp8_lanes];
    };
    static type zero() { return {}; }
    static type load(const float* x) {
        type v;
        for (int i = 0; i < fp8_lanes; ++i) v.l[i] = x[i];
        return v;
    }
    static type decode(const std::uint8_t* q) {
        type v;
        for (int i = 0; i < fp8_lanes; ++i) v.l[i] = fp8_e4m3_values[q[i]];
        return v;
    }
    static void store(float* out, const type& v) {
        for (int i = 0; i < fp8_lanes; ++i) out[i] = v.l[i];
    }
    // a · b + c, one rounding
    static type fma(const type& a, const type& b, const type& c) {
        type v;
        for (int i = 0; i < fp8_lanes; ++i) v.l[i] = fused_multiply_add(a.l[i], b.l[i], c.l[i]);
        return v;
    }
    static type fma(float a, const type& b, const type& c) {
        type v;
        for (int i = 0; i < fp8_lanes; ++i) v.l[i] = fused_multiply_add(a, b.l[i], c.l[i]);
        return v;
    }
    static float sum(type v) { return detail::tree_sum(v.l); }
    // 16 codes → fp8_dot_weights; decode_weights_finite may skip NaN codes' fix-up where has_nan(block) is false
    static type decode_weights(const std::uint8_t* q) {
        type v;
        for (int i = 0; i < fp8_lanes; ++i) v.l[i] = fp8_dot_weights[q[i]];
        return v;
    }
    static bool has_nan(const fp8_e4m3_block&) { return false; }
    static type decode_weights_finite(const std::uint8_t* q) { return decode_weights(q); }
};

#if defined(__AVX512F__)
struct lanes_avx512 {
    using type = __m512;
    using u32x16 = std::uint32_t __attribute__((vector_size(64)));

    static type zero() { return _mm512_setzero_ps(); }
    static type load(const float* x) { return _mm512_loadu_ps(x); }
    static void store(float* out, type v) { _mm512_storeu_ps(out, v); }
    // Bias = 120: decode(q); 112: decode(q) · 2^-8 (fp8_dot_weights).
    template <unsigned Bias>
    static type decode_biased(const std::uint8_t* q) {
        // Zero-extending form with every lane selected, shifts as vector extensions: GCC 12's plain intrinsics pass
        // an undefined operand that trips -Wuninitialized (see dot_tiles.hpp's load_wide).
        const __m512i codes = _mm512_maskz_cvtepu8_epi32(__mmask16(0xFFFF), _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
        const auto v = std::bit_cast<u32x16>(codes);
        const u32x16 magnitude = v & 0x7Fu;
        const u32x16 normal = (magnitude << 20) + (Bias << 23);  // exponent 7 → 127 bias, 3 mantissa bits on top
        const auto m = std::bit_cast<__m512i>(magnitude);
        __m512 value = std::bit_cast<__m512>(normal);
        constexpr float step = Bias == 120 ? 1.0f / 512 : 1.0f / 131072;  // the subnormals m · 2^-9 (· 2^-8)
        const __m512 subnormals = _mm512_setr_ps(0.0f, 1 * step, 2 * step, 3 * step, 4 * step, 5 * step, 6 * step,
                                                 7 * step, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f);
        value = _mm512_mask_permutexvar_ps(value, _mm512_cmplt_epu32_mask(m, _mm512_set1_epi32(8)), m, subnormals);
        value = _mm512_mask_mov_ps(value, _mm512_cmpeq_epi32_mask(m, _mm512_set1_epi32(0x7F)),
                                   _mm512_castsi512_ps(_mm512_set1_epi32(0x7FC00000)));  // quiet NaN
        return std::bit_cast<__m512>(std::bit_cast<u32x16>(value) | ((v << 24) & 0x80000000u));
    }
    static type decode(const std::uint8_t* q) { return decode_biased<120>(q); }
    static type decode_weights(const std::uint8_t* q) { return decode_biased<112>(q); }
    static bool has_nan(const fp8_e4m3_block&) { return false; }
    static type decode_weights_finite(const std::uint8_t* q) { return decode_weights(q); }
    static type fma(type a, type b, type c) { return _mm512_fmadd_ps(a, b, c); }
    static type fma(float a, type b, type c) { return _mm512_fmadd_ps(_mm512_set1_ps(a), b, c); }
    static float sum(type v) { return detail::tree_sum(v); }
};
#endif

#if defined(MOE_HAVE_AVX2_TILES)
struct lanes_avx2 {
    struct type {
        __m256 lo, hi;  // lanes 0–7, 8–15
    };
    static type zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
    static type load(const float* x) { return {_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8)}; }
    static void store(float* out, const type& v) {
        _mm256_storeu_ps(out, v.lo);
        _mm256_storeu_ps(out + 8, v.hi);
    }
    static type decode(const std::uint8_t* q) {
        const avx2::fp8_lanes16 v = avx2::decode16(q);
        return {v.lo, v.hi};
    }
    static type decode_weights(const std::uint8_t* q) {
        const avx2::fp8_lanes16 v = avx2::decode16_scaled(q);
        return {v.lo, v.hi};
    }
    // for a block without NaN codes (has_nan false): 8 instructions fewer per 16 codes
    static bool has_nan(const fp8_e4m3_block& b) { return avx2::block_has_nan(b.q); }
    static type decode_weights_finite(const std::uint8_t* q) {
        const avx2::fp8_lanes16 v = avx2::decode16_scaled_finite(q);
        return {v.lo, v.hi};
    }
    static type fma(const type& a, const type& b, const type& c) {
        return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
    }
    static type fma(float a, const type& b, const type& c) {
        const __m256 s = _mm256_set1_ps(a);
        return {_mm256_fmadd_ps(s, b.lo, c.lo), _mm256_fmadd_ps(s, b.hi, c.hi)};
    }
    static float sum(const type& v) { return avx2::tree_sum(v.lo, v.hi); }
};
#endif

#if defined(MOE_HAVE_NEON_TILES)
struct lanes_neon {
    using type = neon::wide16;  // lanes 0–3, 4–7, 8–11, 12–15
    static type zero() { return {{vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}}; }
    static type load(const float* x) { return neon::load_wide16(x); }
    static void store(float* out, const type& v) {
        for (int i = 0; i < 4; ++i) vst1q_f32(out + 4 * i, v.v[i]);
    }
    static type decode(const std::uint8_t* q) { return neon::fp8_decode16(q); }
    static type decode_weights(const std::uint8_t* q) { return neon::fp8_decode16_scaled(q); }
    // for a block without NaN codes (has_nan false): 4 instructions fewer per 8 codes
    static bool has_nan(const fp8_e4m3_block& b) { return neon::fp8_block_has_nan(b.q); }
    static type decode_weights_finite(const std::uint8_t* q) { return neon::fp8_decode16_scaled_finite(q); }
    static type fma(const type& a, const type& b, const type& c) {
        type v;
        for (int i = 0; i < 4; ++i) v.v[i] = vfmaq_f32(c.v[i], a.v[i], b.v[i]);
        return v;
    }
    static type fma(float a, const type& b, const type& c) {
        type v;
        for (int i = 0; i < 4; ++i) v.v[i] = vfmaq_n_f32(c.v[i], b.v[i], a);
        return v;
    }
    static float sum(const type& v) { return neon::tree_sum16(v); }
};
#endif

// The lanes of the path compiled in (see the header comment); `portable` selects lanes_portable at run time (tests).
#if defined(__AVX512F__)
using lanes_simd = lanes_avx512;
#elif defined(MOE_HAVE_AVX2_TILES)
using lanes_simd = lanes_avx2;
#elif defined(MOE_HAVE_NEON_TILES)
using lanes_simd = lanes_neon;
#else
using lanes_simd = lanes_portable;
#endif

// Tokens per decode tile: 4 tokens × (partial + accumulator) fit 16 registers of 512 bits. The AVX2 path holds
// each 16-lane value in two 256-bit registers and spills accumulators (touched once per block), still measured
// ~1.4× faster at 3–4 tokens than tiles of 2, which decode every code twice.
inline constexpr int dot_tile_tokens = 4;

// Blocks [b, b + Blocks) of one row: each block's partial sums (one fma chain per lane, from +0), then added
// into acc in block order; Finite: no block has a NaN code. Two blocks at a time give the core two independent chains per lane to overlap
// (each is 8 dependent fmas); the order of every sum stays that of the header comment.
template <class L, int Tokens, int Blocks, bool Finite>
inline void dot_blocks(const float* const* x, const fp8_e4m3_block* w, std::int64_t b, typename L::type (&acc)[Tokens]) {
    typename L::type part[Blocks][Tokens];
    MOE_UNROLL
    for (int i = 0; i < Blocks; ++i)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) part[i][t] = L::zero();
    MOE_UNROLL
    for (int j = 0; j < fp8_groups; ++j)
        MOE_UNROLL
        for (int i = 0; i < Blocks; ++i) {
            const std::uint8_t* q = w[b + i].q + j * fp8_lanes;
            const auto wide = Finite ? L::decode_weights_finite(q) : L::decode_weights(q);
            MOE_UNROLL
            for (int t = 0; t < Tokens; ++t)
                part[i][t] = L::fma(L::load(x[t] + (b + i) * fp8_block_size + j * fp8_lanes), wide, part[i][t]);
        }
    MOE_UNROLL
    for (int i = 0; i < Blocks; ++i) {
        const float scale = w[b + i].scale * fp8_dot_rebias;
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) acc[t] = L::fma(scale, part[i][t], acc[t]);
    }
}

// Blocks [b, b + Blocks) of one row, with NaN codes looked for first (none are expected — checkpoints with them
// are refused — but they decode to NaN all the same).
template <class L, int Tokens, int Blocks>
inline void dot_blocks_checked(const float* const* x, const fp8_e4m3_block* w, std::int64_t b,
                               typename L::type (&acc)[Tokens]) {
    bool nan = false;
    MOE_UNROLL
    for (int i = 0; i < Blocks; ++i) nan = nan || L::has_nan(w[b + i]);
    if (nan) dot_blocks<L, Tokens, Blocks, false>(x, w, b, acc);
    else dot_blocks<L, Tokens, Blocks, true>(x, w, b, acc);
}

// One weight row × Tokens tokens: out[t · out_stride] = the sum of the header comment.
// x: Tokens pointers to (K) fp32; w: (K/128) blocks.
template <class L, int Tokens>
void dot_tile(const float* const* x, const fp8_e4m3_block* w, std::int64_t blocks, float* out, std::int64_t out_stride) {
    // two blocks at a time where their partial sums fit the registers (1–2 tokens)
    constexpr int step = Tokens <= 2 ? 2 : 1;
    typename L::type acc[Tokens];
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) acc[t] = L::zero();
    std::int64_t b = 0;
    for (; b + step <= blocks; b += step) dot_blocks_checked<L, Tokens, step>(x, w, b, acc);
    if (b < blocks) dot_blocks_checked<L, Tokens, 1>(x, w, b, acc);
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) out[t * out_stride] = L::sum(acc[t]);
}

template <class L>
void dot_tile_any_tokens(int tokens, const float* const* x, const fp8_e4m3_block* w, std::int64_t blocks, float* out,
                         std::int64_t out_stride) {
    static_assert(dot_tile_tokens == 4, "add a case below for each token count up to dot_tile_tokens");
    switch (tokens) {
        case 1: return dot_tile<L, 1>(x, w, blocks, out, out_stride);
        case 2: return dot_tile<L, 2>(x, w, blocks, out, out_stride);
        case 3: return dot_tile<L, 3>(x, w, blocks, out, out_stride);
        case 4: return dot_tile<L, 4>(x, w, blocks, out, out_stride);
        default: return;
    }
}

template <class L>
void dot_product_block(const float* x, std::int64_t x_stride, std::int64_t tokens, const fp8_e4m3_block* w,
                       std::int64_t w_stride, std::int64_t rows, std::int64_t k, float* out, std::int64_t out_stride) {
    const std::int64_t blocks = k / fp8_block_size;
    for (std::int64_t t0 = 0; t0 < tokens; t0 += dot_tile_tokens) {
        const int tt = static_cast<int>(tokens - t0 < dot_tile_tokens ? tokens - t0 : dot_tile_tokens);
        const float* xs[dot_tile_tokens];
        for (int t = 0; t < tt; ++t) xs[t] = x + (t0 + t) * x_stride;
        for (std::int64_t r = 0; r < rows; ++r)
            dot_tile_any_tokens<L>(tt, xs, w + r * w_stride, blocks, out + t0 * out_stride + r, out_stride);
    }
}

}  // namespace fp8_detail

// The path fp8_dot_product_block and fp8_gemm_block_transposed run, for tests and benchmarks to report.
enum class fp8_path { avx512, avx2, neon, portable };
inline constexpr fp8_path fp8_kernel_path =
#if defined(__AVX512F__)
    fp8_path::avx512;
#elif defined(MOE_HAVE_AVX2_TILES)
    fp8_path::avx2;
#elif defined(MOE_HAVE_NEON_TILES)
    fp8_path::neon;
#else
    fp8_path::portable;
#endif

// out[t · out_stride + r] = Σ_b (scale_b · 2^8) · Σ_i (decode(q_i) · 2^-8) · x[t · x_stride + i]   for t < tokens,
// r < rows, in the order of the header comment. w: (rows, K) blocks with row stride w_stride blocks; K a multiple of 128.
// `portable` forces the portable loop (tests).
inline void fp8_dot_product_block(const float* x, std::int64_t x_stride, std::int64_t tokens, const fp8_e4m3_block* w,
                                  std::int64_t w_stride, std::int64_t rows, std::int64_t k, float* out,
                                  std::int64_t out_stride, bool portable = false) {
    if (portable) {
        fp8_detail::dot_product_block<fp8_detail::lanes_portable>(x, x_stride, tokens, w, w_stride, rows, k, out, out_stride);
    } else {
        fp8_detail::dot_product_block<fp8_detail::lanes_simd>(x, x_stride, tokens, w, w_stride, rows, k, out, out_stride);
    }
}

// The plain-loop definition of the same sum for one token and one row (tests compare the tiles with it).
// x: (K) fp32, w: (K/128) blocks.
inline float fp8_dot_product_reference(const float* x, const fp8_e4m3_block* w, std::int64_t k) {
    float acc[fp8_lanes] = {};
    for (std::int64_t b = 0; b < k / fp8_block_size; ++b) {
        float part[fp8_lanes] = {};
        for (std::int64_t i = 0; i < fp8_block_size; ++i)
            part[i % fp8_lanes] = fused_multiply_add(fp8_dot_weights[w[b].q[i]], x[b * fp8_block_size + i], part[i % fp8_lanes]);
        for (int l = 0; l < fp8_lanes; ++l) acc[l] = fused_multiply_add(w[b].scale * fp8_dot_rebias, part[l], acc[l]);
    }
    return detail::tree_sum(acc);
}

// 16 codes decoded to fp32 by the compiled-in path (tests check it against fp8_e4m3_values for all 256 codes).
inline void fp8_decode16(const std::uint8_t* q, float* out, bool portable = false) {
    if (portable) fp8_detail::lanes_portable::store(out, fp8_detail::lanes_portable::decode(q));
    else fp8_detail::lanes_simd::store(out, fp8_detail::lanes_simd::decode(q));
}

// 16 codes decoded to the decode tiles' weights (fp8_dot_weights) by the compiled-in path; `finite`: the decoder
// for blocks without NaN codes (tests check both against the table).
inline void fp8_decode16_weights(const std::uint8_t* q, float* out, bool finite = false) {
    using L = fp8_detail::lanes_simd;
    L::store(out, finite ? L::decode_weights_finite(q) : L::decode_weights(q));
}

}  // namespace moe::cpu::kernels
