// moe/cpu/kernels/q8_dot_tiles.hpp — out = X · Wᵀ with Q8_0 weights and Q8_0-quantized activations (decode).
//
// W is (rows, K) in q8_0_block rows (32 signed bytes + fp16 scale per block, read in place); X is quantized once per
// product (quantize_tokens_q8_0) into signed bytes and fp32 block scales. As in dot_tiles.hpp, register tiles of up
// to 4 weight rows × 5 tokens (rows one at a time for 1–2 tokens) read each weight block once.
//
// Summation order (the same on every path and tile shape, so results do not depend on the thread count or on how
// tokens are batched): blocks are taken in pairs (2p, 2p + 1); lane l (0..15) handles 4 consecutive bytes —
// lanes 0–7 of the even block, lanes 8–15 of the odd one (a last unpaired block leaves lanes 8–15 adding 0) —
//   s = Σ_{i<4} wq · xq exactly (an integer), acc_l = fma(float(s), dw · dx, acc_l) over p = 0, 1, … from +0
//   (dw · dx rounded to fp32 first: the block's weight and activation scales);
// then the 16 lanes are summed as a tree: l + 8, + 4, + 2, + 1 (as in dot_tiles.hpp).
// AVX-512 VNNI (compile-time: __AVX512VNNI__ and __AVX512VL__): one vpdpbusd covers a pair of blocks; it multiplies
// unsigned by signed bytes, so the weights are offset to unsigned (q + 128, an XOR) and each lane starts from
// −128 · Σ of its four activation bytes (precomputed per token), which leaves the same exact integer. Otherwise a
// portable loop computes the same sums.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "moe/cpu/kernels/dot_tiles.hpp"
#include "moe/precision/q8_0.hpp"

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#include <immintrin.h>
#define MOE_HAVE_AVX512_VNNI 1
#endif

namespace moe::cpu::kernels {

inline constexpr int q8_lanes = 16;  // int32 lanes of a pair of blocks: 4 consecutive bytes each
inline constexpr int q8_bytes_per_lane = 4;

// Activations of `tokens` tokens quantized to Q8_0 (quantize_q8_0_activations), row-major per token:
//   q:          (tokens, K)       signed bytes
//   scales:     (tokens, K/32)    fp32 values of the fp16 block scales
//   lane_bias:  (tokens, K/4)     −128 · Σ of each lane's 4 bytes: the start value that cancels the weight offset
//   lane_scale: (tokens, K/4)     each lane's block scale (the scale of block b repeated 8 times)
struct q8_tokens {
    std::vector<std::int8_t> q;
    std::vector<float> scales;
    std::vector<std::int32_t> lane_bias;
    std::vector<float> lane_scale;
    std::int64_t k = 0;

    const std::int8_t* q_of(std::int64_t t) const { return q.data() + t * k; }
    const float* scales_of(std::int64_t t) const { return scales.data() + t * (k / q8_0_block_size); }
    const std::int32_t* lane_bias_of(std::int64_t t) const { return lane_bias.data() + t * (k / q8_bytes_per_lane); }
    const float* lane_scale_of(std::int64_t t) const { return lane_scale.data() + t * (k / q8_bytes_per_lane); }
};

// x: (n, K) fp32 with row stride x_stride, K a multiple of 32  →  out (buffers grow, never shrink).
inline void quantize_tokens_q8_0(const float* x, std::int64_t x_stride, std::int64_t n, std::int64_t k, q8_tokens& out) {
    out.k = k;
    const auto need = static_cast<std::size_t>(n * k);
    if (out.q.size() < need) {
        out.q.resize(need);
        out.scales.resize(need / q8_0_block_size);
        out.lane_bias.resize(need / q8_bytes_per_lane);
        out.lane_scale.resize(need / q8_bytes_per_lane);
    }
    for (std::int64_t t = 0; t < n; ++t) {
        std::int8_t* q = out.q.data() + t * k;
        quantize_q8_0_activations(x + t * x_stride, k, q, out.scales.data() + t * (k / q8_0_block_size));
        std::int32_t* bias = out.lane_bias.data() + t * (k / q8_bytes_per_lane);
        for (std::int64_t g = 0; g < k / q8_bytes_per_lane; ++g) {
            std::int32_t sum = 0;
            for (int i = 0; i < q8_bytes_per_lane; ++i) sum += q[g * q8_bytes_per_lane + i];
            bias[g] = -128 * sum;
            out.lane_scale[static_cast<std::size_t>(t * (k / q8_bytes_per_lane) + g)] =
                out.scales[static_cast<std::size_t>(t * (k / q8_0_block_size) + g / 8)];
        }
    }
}

namespace detail {

// Lane l's exact integer sum in block pair p (0 past the last block).
inline std::int32_t q8_lane_sum(const q8_0_block* w, const std::int8_t* x, std::int64_t blocks, std::int64_t p, int lane) {
    const std::int64_t b = 2 * p + lane / 8;
    if (b >= blocks) return 0;
    std::int32_t s = 0;
    for (int i = 0; i < q8_bytes_per_lane; ++i) {
        const int at = (lane % 8) * q8_bytes_per_lane + i;
        s += std::int32_t{w[b].q[at]} * std::int32_t{x[b * q8_0_block_size + at]};
    }
    return s;
}

// Lane l's scale product dw · dx in block pair p (0 past the last block).
inline float q8_lane_scale(const q8_0_block* w, const float* xs, std::int64_t blocks, std::int64_t p, int lane) {
    const std::int64_t b = 2 * p + lane / 8;
    return b < blocks ? w[b].scale() * xs[b] : 0.0f * 0.0f;
}

template <int Rows, int Tokens>
void q8_tile_portable(const q8_tokens& x, std::int64_t t0, const q8_0_block* const* w, std::int64_t blocks, float* out,
                      std::int64_t out_stride) {
    float acc[Rows][Tokens][q8_lanes] = {};
    for (std::int64_t p = 0; p < (blocks + 1) / 2; ++p)
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_UNROLL
            for (int t = 0; t < Tokens; ++t)
                for (int l = 0; l < q8_lanes; ++l)
                    acc[r][t][l] = std::fma(float(q8_lane_sum(w[r], x.q_of(t0 + t), blocks, p, l)),
                                            q8_lane_scale(w[r], x.scales_of(t0 + t), blocks, p, l), acc[r][t][l]);
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) out[t * out_stride + r] = tree_sum(acc[r][t]);
}

#if defined(MOE_HAVE_AVX512_VNNI)
// One block pair (or, Tail, a last single block in lanes 0–7) of Rows × Tokens.
template <int Rows, int Tokens, bool Tail>
inline void q8_pair_avx512(__m512 (&acc)[Rows][Tokens], const q8_0_block* const* w, std::int64_t b,
                           const std::int8_t* const* xq, const std::int32_t* const* xb, const float* const* xs) {
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
    constexpr __mmask16 lanes = Tail ? 0x00ff : 0xffff;
    __m512i wq[Rows];
    __m512 dw[Rows];
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r) {
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][b].q));
        const __m256i hi = Tail ? _mm256_setzero_si256() : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][b + 1].q));
        wq[r] = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), offset);
        const __m128i s_lo = _mm_set1_epi16(static_cast<short>(w[r][b].scale_bits));
        const __m128i s_hi = Tail ? _mm_setzero_si128() : _mm_set1_epi16(static_cast<short>(w[r][b + 1].scale_bits));
        dw[r] = _mm512_maskz_cvtph_ps(__mmask16(0xffff), _mm256_inserti128_si256(_mm256_castsi128_si256(s_lo), s_hi, 1));
    }
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) {
        const __m512i xv = Tail ? _mm512_maskz_loadu_epi32(lanes, xq[t] + b * q8_0_block_size)
                                : _mm512_loadu_si512(xq[t] + b * q8_0_block_size);
        const __m512i bias = _mm512_maskz_loadu_epi32(lanes, xb[t] + b * 8);
        const __m512 dx = _mm512_maskz_loadu_ps(lanes, xs[t] + b * 8);
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r) {
            const __m512i sums = _mm512_dpbusd_epi32(bias, wq[r], xv);
            // maskz conversion: GCC 12 warns about the undefined pass-through of _mm512_cvtepi32_ps.
            acc[r][t] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(__mmask16(0xffff), sums), _mm512_mul_ps(dw[r], dx),
                                        acc[r][t]);
        }
    }
}

template <int Rows, int Tokens>
void q8_tile_avx512(const q8_tokens& x, std::int64_t t0, const q8_0_block* const* w, std::int64_t blocks, float* out,
                    std::int64_t out_stride) {
    __m512 acc[Rows][Tokens];
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) acc[r][t] = _mm512_setzero_ps();
    const std::int8_t* xq[Tokens];
    const std::int32_t* xb[Tokens];
    const float* xs[Tokens];
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) xq[t] = x.q_of(t0 + t), xb[t] = x.lane_bias_of(t0 + t), xs[t] = x.lane_scale_of(t0 + t);
    std::int64_t b = 0;
    for (; b + 2 <= blocks; b += 2) q8_pair_avx512<Rows, Tokens, false>(acc, w, b, xq, xb, xs);
    if (b < blocks) q8_pair_avx512<Rows, Tokens, true>(acc, w, b, xq, xb, xs);
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) out[t * out_stride + r] = tree_sum(acc[r][t]);
}
#endif

template <int Rows, int Tokens>
void q8_tile(const q8_tokens& x, std::int64_t t0, const q8_0_block* const* w, std::int64_t blocks, float* out,
             std::int64_t out_stride, bool portable) {
#if defined(MOE_HAVE_AVX512_VNNI)
    if (!portable) return q8_tile_avx512<Rows, Tokens>(x, t0, w, blocks, out, out_stride);
#endif
    (void)portable;
    q8_tile_portable<Rows, Tokens>(x, t0, w, blocks, out, out_stride);
}

template <int Rows>
void q8_tile_any_tokens(int tokens, const q8_tokens& x, std::int64_t t0, const q8_0_block* const* w,
                        std::int64_t blocks, float* out, std::int64_t out_stride, bool portable) {
    static_assert(tile_tokens == 5, "add a case below for each token count up to tile_tokens");
    switch (tokens) {
        case 1: return q8_tile<Rows, 1>(x, t0, w, blocks, out, out_stride, portable);
        case 2: return q8_tile<Rows, 2>(x, t0, w, blocks, out, out_stride, portable);
        case 3: return q8_tile<Rows, 3>(x, t0, w, blocks, out, out_stride, portable);
        case 4: return q8_tile<Rows, 4>(x, t0, w, blocks, out, out_stride, portable);
        case 5: return q8_tile<Rows, 5>(x, t0, w, blocks, out, out_stride, portable);
        default: return;
    }
}

}  // namespace detail

// True when q8_dot_product_block runs vpdpbusd (compiled with AVX-512 VNNI), false for the portable loop.
inline constexpr bool q8_dot_uses_avx512 =
#if defined(MOE_HAVE_AVX512_VNNI)
    true;
#else
    false;
#endif

// out[t · out_stride + r] = Σ_b dw_b · dx_b · Σ_i wq · xq   for t < x's tokens, r < rows, in the order of the header
// comment. w: (rows, K) blocks with row stride w_stride blocks. `portable` forces the portable loop (tests).
inline void q8_dot_product_block(const q8_tokens& x, std::int64_t tokens, const q8_0_block* w, std::int64_t w_stride,
                                 std::int64_t rows, float* out, std::int64_t out_stride, bool portable = false) {
    const std::int64_t blocks = x.k / q8_0_block_size;
    for (std::int64_t t0 = 0; t0 < tokens; t0 += tile_tokens) {
        const int tt = static_cast<int>(tokens - t0 < tile_tokens ? tokens - t0 : tile_tokens);
        float* o = out + t0 * out_stride;
        const std::int64_t full = tt <= small_tile_tokens ? 0 : rows / tile_rows * tile_rows;
        for (std::int64_t r0 = 0; r0 < full; r0 += tile_rows) {
            const q8_0_block* ws[tile_rows];
            for (int r = 0; r < tile_rows; ++r) ws[r] = w + (r0 + r) * w_stride;
            detail::q8_tile_any_tokens<tile_rows>(tt, x, t0, ws, blocks, o + r0, out_stride, portable);
        }
        for (std::int64_t r = 0; r < rows - full; ++r) {
            const q8_0_block* ws[1] = {w + (full + r) * w_stride};
            detail::q8_tile_any_tokens<1>(tt, x, t0, ws, blocks, o + full + r, out_stride, portable);
        }
    }
}

// The plain-loop definition of the same sum for one token and one row (tests compare the tiles with it).
// xq: (K) activation bytes, xs: (K/32) activation scales, w: (K/32) weight blocks.
inline float q8_dot_product_reference(const std::int8_t* xq, const float* xs, const q8_0_block* w, std::int64_t k) {
    const std::int64_t blocks = k / q8_0_block_size;
    float lanes[q8_lanes] = {};
    for (std::int64_t p = 0; p < (blocks + 1) / 2; ++p)
        for (int l = 0; l < q8_lanes; ++l)
            lanes[l] = std::fma(float(detail::q8_lane_sum(w, xq, blocks, p, l)),
                                detail::q8_lane_scale(w, xs, blocks, p, l), lanes[l]);
    return detail::tree_sum(lanes);
}

}  // namespace moe::cpu::kernels
