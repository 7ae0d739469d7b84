// moe/cpu/kernels/fp8_dot_tiles.hpp — out = X · Wᵀ with fp8 e4m3 weights in 128-weight blocks (decode).
//
// W is (rows, K) in fp8_e4m3_block rows (128 e4m3 codes + an fp32 scale per block, read in place); X is fp32,
// used as it is. Codes are decoded to fp32 in registers (exact), multiplied with the activations in fp32, and each
// block's scale is applied once to its 128-weight partial sums: y = Σ_b scale_b · Σ_i decode(q_i) · x_i.
// Decode (1–4 tokens) reads each weight byte once: rows are taken one at a time (decoding, not loading
// activations, is the work per byte here, so more rows per tile would not save any), tokens in tiles of up to 4.
//
// Summation order, the same on every path (so results do not depend on the thread count, on how tokens are
// batched, or on which path is compiled in):
//   lane l (0..15) of block b: p = fma chain of decode(q[i]) · x[i] over i = 128b + 16j + l, j = 0..7, from +0;
//   acc_l = fma(scale_b, p, acc_l) over b = 0, 1, … from +0;
//   then the tree of dot_tiles.hpp over the 16 lanes: l + 8, + 4, + 2, + 1.
// Paths, chosen at compile time (each decodes every code to the same fp32 bits as fp8_e4m3_values, NaN codes
// included — tests/precision/test_fp8_e4m3.cpp checks all 256 and the tiles against the plain loop bit for bit):
// - AVX-512F: 16 codes → 16 lanes by arithmetic: the code's magnitude shifted into an fp32 exponent and mantissa
//   and rebiased (normal codes), a 16-entry permute for the 8 subnormals m · 2^-9 (no fp32 denormal is ever an
//   operand, so DAZ/FTZ modes do not change the result), a masked NaN, the sign OR'd back.
// - AVX2 + FMA (x86-64-v3, MOE_HAVE_AVX2_TILES): the same in two 256-bit halves (vpermps for the subnormals).
// - otherwise a portable loop over the 256-entry table.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "moe/cpu/kernels/dot_tiles.hpp"  // fused_multiply_add, tree_sum, MOE_UNROLL, MOE_HAVE_AVX2_TILES
#include "moe/precision/fp8_e4m3.hpp"

#if defined(__AVX512F__) || defined(MOE_HAVE_AVX2_TILES)
#include <immintrin.h>
#endif

namespace moe::cpu::kernels {

inline constexpr int fp8_lanes = 16;                            // the 16 lanes of the summation order
inline constexpr int fp8_groups = fp8_block_size / fp8_lanes;   // 8 groups of 16 weights per block

namespace fp8_detail {

// 16 fp32 lanes, one type per path: zero, load 16 activations, decode 16 codes, store, fma, the tree sum.
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
};

#if defined(__AVX512F__)
struct lanes_avx512 {
    using type = __m512;
    using u32x16 = std::uint32_t __attribute__((vector_size(64)));

    static type zero() { return _mm512_setzero_ps(); }
    static type load(const float* x) { return _mm512_loadu_ps(x); }
    static void store(float* out, type v) { _mm512_storeu_ps(out, v); }
    static type decode(const std::uint8_t* q) {
        // Zero-extending form with every lane selected, shifts as vector extensions: GCC 12's plain intrinsics pass
        // an undefined operand that trips -Wuninitialized (see dot_tiles.hpp's load_wide).
        const __m512i codes = _mm512_maskz_cvtepu8_epi32(__mmask16(0xFFFF), _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
        const auto v = std::bit_cast<u32x16>(codes);
        const u32x16 magnitude = v & 0x7Fu;
        const u32x16 normal = (magnitude << 20) + (120u << 23);  // exponent 7 → 127 bias, 3 mantissa bits on top
        const auto m = std::bit_cast<__m512i>(magnitude);
        __m512 value = std::bit_cast<__m512>(normal);
        const __m512 subnormals = _mm512_setr_ps(0.0f, 1.0f / 512, 2.0f / 512, 3.0f / 512, 4.0f / 512, 5.0f / 512,
                                                 6.0f / 512, 7.0f / 512, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f);
        value = _mm512_mask_permutexvar_ps(value, _mm512_cmplt_epu32_mask(m, _mm512_set1_epi32(8)), m, subnormals);
        value = _mm512_mask_mov_ps(value, _mm512_cmpeq_epi32_mask(m, _mm512_set1_epi32(0x7F)),
                                   _mm512_castsi512_ps(_mm512_set1_epi32(0x7FC00000)));  // quiet NaN
        return std::bit_cast<__m512>(std::bit_cast<u32x16>(value) | ((v << 24) & 0x80000000u));
    }
    static type fma(type a, type b, type c) { return _mm512_fmadd_ps(a, b, c); }
    static type fma(float a, type b, type c) { return _mm512_fmadd_ps(_mm512_set1_ps(a), b, c); }
    static float sum(type v) { return detail::tree_sum(v); }
};
#endif

#if defined(MOE_HAVE_AVX2_TILES)
// 8 codes → 8 fp32 lanes, the same steps as lanes_avx512::decode.
inline __m256 decode8_avx2(const std::uint8_t* q) {
    std::uint64_t raw;
    std::memcpy(&raw, q, sizeof(raw));
    const __m256i v = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(raw)));
    const __m256i magnitude = _mm256_and_si256(v, _mm256_set1_epi32(0x7F));
    const __m256 normal =
        _mm256_castsi256_ps(_mm256_add_epi32(_mm256_slli_epi32(magnitude, 20), _mm256_set1_epi32(120 << 23)));
    const __m256 subnormals = _mm256_setr_ps(0.0f, 1.0f / 512, 2.0f / 512, 3.0f / 512, 4.0f / 512, 5.0f / 512,
                                             6.0f / 512, 7.0f / 512);
    const __m256 small = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(8), magnitude));
    __m256 value = _mm256_blendv_ps(normal, _mm256_permutevar8x32_ps(subnormals, magnitude), small);
    const __m256 nan = _mm256_castsi256_ps(_mm256_cmpeq_epi32(magnitude, _mm256_set1_epi32(0x7F)));
    value = _mm256_blendv_ps(value, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC00000)), nan);
    const __m256i sign = _mm256_and_si256(_mm256_slli_epi32(v, 24), _mm256_set1_epi32(static_cast<int>(0x80000000u)));
    return _mm256_or_ps(value, _mm256_castsi256_ps(sign));
}

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
    static type decode(const std::uint8_t* q) { return {decode8_avx2(q), decode8_avx2(q + 8)}; }
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

// The lanes of the path compiled in (see the header comment); `portable` selects lanes_portable at run time (tests).
#if defined(__AVX512F__)
using lanes_simd = lanes_avx512;
#elif defined(MOE_HAVE_AVX2_TILES)
using lanes_simd = lanes_avx2;
#else
using lanes_simd = lanes_portable;
#endif

// Tokens per decode tile: 4 tokens × (partial + accumulator) fit 16 registers of 512 bits; the AVX2 path holds
// each 16-lane value in two 256-bit registers, so it takes 2 tokens at a time.
#if defined(MOE_HAVE_AVX2_TILES) && !defined(__AVX512F__)
inline constexpr int dot_tile_tokens = 2;
#else
inline constexpr int dot_tile_tokens = 4;
#endif

// One weight row × Tokens tokens: out[t · out_stride] = the sum of the header comment.
// x: Tokens pointers to (K) fp32; w: (K/128) blocks.
template <class L, int Tokens>
void dot_tile(const float* const* x, const fp8_e4m3_block* w, std::int64_t blocks, float* out, std::int64_t out_stride) {
    typename L::type acc[Tokens];
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) acc[t] = L::zero();
    for (std::int64_t b = 0; b < blocks; ++b) {
        typename L::type part[Tokens];
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) part[t] = L::zero();
        MOE_UNROLL
        for (int j = 0; j < fp8_groups; ++j) {
            const auto wide = L::decode(w[b].q + j * fp8_lanes);
            MOE_UNROLL
            for (int t = 0; t < Tokens; ++t)
                part[t] = L::fma(L::load(x[t] + b * fp8_block_size + j * fp8_lanes), wide, part[t]);
        }
        const float scale = w[b].scale;
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) acc[t] = L::fma(scale, part[t], acc[t]);
    }
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) out[t * out_stride] = L::sum(acc[t]);
}

template <class L>
void dot_tile_any_tokens(int tokens, const float* const* x, const fp8_e4m3_block* w, std::int64_t blocks, float* out,
                         std::int64_t out_stride) {
    static_assert(dot_tile_tokens <= 4, "add a case below for each token count up to dot_tile_tokens");
    switch (tokens) {
        case 1: return dot_tile<L, 1>(x, w, blocks, out, out_stride);
        case 2: return dot_tile<L, 2>(x, w, blocks, out, out_stride);
        case 3: if constexpr (dot_tile_tokens >= 3) return dot_tile<L, 3>(x, w, blocks, out, out_stride); else return;
        case 4: if constexpr (dot_tile_tokens >= 4) return dot_tile<L, 4>(x, w, blocks, out, out_stride); else return;
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
enum class fp8_path { avx512, avx2, portable };
inline constexpr fp8_path fp8_kernel_path =
#if defined(__AVX512F__)
    fp8_path::avx512;
#elif defined(MOE_HAVE_AVX2_TILES)
    fp8_path::avx2;
#else
    fp8_path::portable;
#endif

// out[t · out_stride + r] = Σ_b scale_b · Σ_i decode(q_i) · x[t · x_stride + i]   for t < tokens, r < rows, in the
// order of the header comment. w: (rows, K) blocks with row stride w_stride blocks; K a multiple of 128.
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
            part[i % fp8_lanes] = fused_multiply_add(fp8_e4m3_values[w[b].q[i]], x[b * fp8_block_size + i], part[i % fp8_lanes]);
        for (int l = 0; l < fp8_lanes; ++l) acc[l] = fused_multiply_add(w[b].scale, part[l], acc[l]);
    }
    return detail::tree_sum(acc);
}

// 16 codes decoded to fp32 by the compiled-in path (tests check it against fp8_e4m3_values for all 256 codes).
inline void fp8_decode16(const std::uint8_t* q, float* out, bool portable = false) {
    if (portable) fp8_detail::lanes_portable::store(out, fp8_detail::lanes_portable::decode(q));
    else fp8_detail::lanes_simd::store(out, fp8_detail::lanes_simd::decode(q));
}

}  // namespace moe::cpu::kernels
