// moe/cpu/kernels/q8_dot_tiles.hpp — out = X · Wᵀ with Q8_0 weights and Q8_0-quantized activations (decode).
//
// W is (rows, K) in q8_0_block rows (32 signed bytes + fp16 scale per block, read in place); X is quantized once per
// product (quantize_tokens_q8_0) into signed bytes and fp32 block scales. As in dot_tiles.hpp, register tiles of up
// to 4 weight rows × 5 tokens (rows one at a time for 1–2 tokens) read each weight block once.
//
// Summation order (what llama.cpp's AVX2 ggml_vec_dot_q8_0_q8_0 computes, and the same on every path and tile
// shape, so results do not depend on the thread count or on how tokens are batched):
//   lane l (0..7) of block b holds the exact integer s = Σ_{i<4} wq[32b + 4l + i] · xq[32b + 4l + i];
//   acc_l = fma(float(s), dw_b · dx_b, acc_l) over b = 0, 1, … in increasing order from +0 (dw_b · dx_b, the
//   block's weight and activation scales, rounded to fp32 first);
//   then the tree l + 4, + 2, + 1.
// Paths, chosen at compile time from the target's macros (each gives the same exact integers, so the same bits):
// - VNNI (AVX-512 VNNI with VL, or AVX-VNNI on Alder Lake and later client cores and Zen 5): one 256-bit vpdpbusd
//   per block (measured ~10% faster on Zen 4 than one 512-bit vpdpbusd per pair of blocks, whose scales take more
//   shuffling). It multiplies unsigned by signed bytes, so the weights are offset to unsigned (q + 128, an XOR) and
//   each lane starts from −128 · Σ of its four activation bytes (precomputed per token).
// - AVX2 + FMA (x86-64-v3): llama.cpp's sign trick — vpmaddubsw(|w|, x · sign(w)) then vpmaddwd with ones. |w| is
//   read as unsigned (so a weight of −128 is 128, exact) and x · sign(w) never wraps because the activation
//   quantizer's bytes lie in [−127, 127]; a pair of products is at most 2 · 128 · 127 < 2^15, so the 16-bit sums
//   never saturate.
// - otherwise a portable loop.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "moe/cpu/kernels/dot_tiles.hpp"
#include "moe/precision/q8_0.hpp"
#include "moe/cpu/kernels/neon/q8_tiles.hpp"  // ARM: sdot tiles (MOE_HAVE_Q8_NEON)

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define MOE_HAVE_AVX512_VNNI 1
#endif
#if defined(MOE_HAVE_AVX512_VNNI) || (defined(__AVXVNNI__) && defined(__F16C__))
#define MOE_HAVE_VNNI_256 1  // a 256-bit vpdpbusd, in its EVEX (AVX-512) or VEX (AVX-VNNI) encoding
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define MOE_HAVE_Q8_AVX2 1  // x86-64-v3
#endif

namespace moe::cpu::kernels {

inline constexpr int q8_lanes = 8;  // int32 lanes of a block: 4 consecutive bytes each
inline constexpr int q8_bytes_per_lane = 4;

// Activations of `tokens` tokens quantized to Q8_0 (quantize_q8_0_activations), row-major per token:
//   q:          (tokens, K)       signed bytes
//   scales:     (tokens, K/32)    fp32 values of the fp16 block scales
//   lane_bias:  (tokens, K/4)     −128 · Σ of each lane's 4 bytes: the start value that cancels the weight offset
struct q8_tokens {
    std::vector<std::int8_t> q;
    std::vector<float> scales;
    std::vector<std::int32_t> lane_bias;
    std::int64_t k = 0;

    const std::int8_t* q_of(std::int64_t t) const { return q.data() + t * k; }
    const float* scales_of(std::int64_t t) const { return scales.data() + t * (k / q8_0_block_size); }
    const std::int32_t* lane_bias_of(std::int64_t t) const { return lane_bias.data() + t * (k / q8_bytes_per_lane); }
};

// x: (n, K) fp32 with row stride x_stride, K a multiple of 32  →  out (buffers grow, never shrink).
inline void quantize_tokens_q8_0(const float* x, std::int64_t x_stride, std::int64_t n, std::int64_t k, q8_tokens& out) {
    out.k = k;
    const auto need = static_cast<std::size_t>(n * k);
    if (out.q.size() < need) {
        out.q.resize(need);
        out.scales.resize(need / q8_0_block_size);
        out.lane_bias.resize(need / q8_bytes_per_lane);
    }
    for (std::int64_t t = 0; t < n; ++t) {
        std::int8_t* q = out.q.data() + t * k;
        quantize_q8_0_activations(x + t * x_stride, k, q, out.scales.data() + t * (k / q8_0_block_size));
        std::int32_t* bias = out.lane_bias.data() + t * (k / q8_bytes_per_lane);
        for (std::int64_t g = 0; g < k / q8_bytes_per_lane; ++g) {
            std::int32_t sum = 0;
            for (int i = 0; i < q8_bytes_per_lane; ++i) sum += q[g * q8_bytes_per_lane + i];
            bias[g] = -128 * sum;
        }
    }
}

namespace detail {

// The tree sum of 8 lanes (l + 4, + 2, + 1).
inline float tree_sum8(float* lanes) {
    for (int width = q8_lanes / 2; width >= 1; width /= 2)
        for (int l = 0; l < width; ++l) lanes[l] += lanes[l + width];
    return lanes[0];
}

// Lane l's exact integer sum in one block.
inline std::int32_t q8_lane_sum(const q8_0_block& w, const std::int8_t* x, int lane) {
    std::int32_t s = 0;
    for (int i = 0; i < q8_bytes_per_lane; ++i)
        s += std::int32_t{w.q[lane * q8_bytes_per_lane + i]} * std::int32_t{x[lane * q8_bytes_per_lane + i]};
    return s;
}

template <int Rows, int Tokens>
void q8_tile_portable(const q8_tokens& x, std::int64_t t0, const q8_0_block* const* w, std::int64_t blocks, float* out,
                      std::int64_t out_stride) {
    float acc[Rows][Tokens][q8_lanes] = {};
    for (std::int64_t b = 0; b < blocks; ++b)
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r)
            MOE_UNROLL
            for (int t = 0; t < Tokens; ++t) {
                const float d = w[r][b].scale() * x.scales_of(t0 + t)[b];
                const std::int8_t* xq = x.q_of(t0 + t) + b * q8_0_block_size;
                for (int l = 0; l < q8_lanes; ++l)
                    acc[r][t][l] = std::fma(float(q8_lane_sum(w[r][b], xq, l)), d, acc[r][t][l]);
            }
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) out[t * out_stride + r] = tree_sum8(acc[r][t]);
}

#if defined(MOE_HAVE_VNNI_256) || defined(MOE_HAVE_Q8_AVX2)
inline float tree_sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));  // l + 4
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));                                          // + 2
    s = _mm_add_ss(s, _mm_movehdup_ps(s));                                           // + 1
    return _mm_cvtss_f32(s);
}

// Bytes ahead of the block being read that each row prefetches (one line per two blocks): the tile does enough
// work per byte that the hardware prefetcher alone leaves the load queue short (measured +8% at 2 threads).
inline constexpr int q8_prefetch_bytes = 4096;
#endif

#if defined(MOE_HAVE_VNNI_256)
inline __m256i dpbusd256(__m256i acc, __m256i unsigned_bytes, __m256i signed_bytes) {
#if defined(MOE_HAVE_AVX512_VNNI)
    return _mm256_dpbusd_epi32(acc, unsigned_bytes, signed_bytes);
#else
    return _mm256_dpbusd_avx_epi32(acc, unsigned_bytes, signed_bytes);
#endif
}
#endif

#if defined(MOE_HAVE_VNNI_256) || defined(MOE_HAVE_Q8_AVX2)
// One weight block in registers, prepared once for all of a tile's tokens.
struct q8_block_256 {
    __m256i bytes;     // VNNI: w + 128 as unsigned bytes (an XOR);  AVX2: w
    __m256i absolute;  // AVX2: |w|, read unsigned by vpmaddubsw (−128 → 128);  VNNI: unused

    static q8_block_256 load(const q8_0_block& block) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.q));
#if defined(MOE_HAVE_VNNI_256)
        return {_mm256_xor_si256(w, _mm256_set1_epi8(static_cast<char>(0x80))), w};
#else
        return {w, _mm256_sign_epi8(w, w)};
#endif
    }

    // A token's lane starts for one block from its lane_bias (q8_tokens): VNNI needs them, AVX2 starts from 0.
    static __m256i lane_start(const std::int32_t* lane_bias) {
#if defined(MOE_HAVE_VNNI_256)
        return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lane_bias));
#else
        (void)lane_bias;
        return _mm256_setzero_si256();
#endif
    }

    // The 8 exact lane sums Σ_{i<4} w[4l + i] · x[4l + i] with a token's 32 bytes x; `start`: the token's lane
    // starts (VNNI: −128 · Σ of each lane's bytes, cancelling the offset; AVX2: unused).
    __m256i lane_sums(__m256i x, __m256i start) const {
#if defined(MOE_HAVE_VNNI_256)
        return dpbusd256(start, bytes, x);
#else
        (void)start;
        const __m256i pairs = _mm256_maddubs_epi16(absolute, _mm256_sign_epi8(x, bytes));
        return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
#endif
    }
};

template <int Rows, int Tokens>
void q8_tile_256(const q8_tokens& x, std::int64_t t0, const q8_0_block* const* w, std::int64_t blocks, float* out,
                 std::int64_t out_stride) {
    __m256 acc[Rows][Tokens];
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) acc[r][t] = _mm256_setzero_ps();
    const std::int8_t* xq[Tokens];
    const float* xs[Tokens];
    const std::int32_t* xb[Tokens];
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) xq[t] = x.q_of(t0 + t), xs[t] = x.scales_of(t0 + t), xb[t] = x.lane_bias_of(t0 + t);
    for (std::int64_t b = 0; b < blocks; ++b) {
        q8_block_256 wb[Rows];
        float dw[Rows];
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r) {
            if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(w[r] + b) + q8_prefetch_bytes, _MM_HINT_T0);
            wb[r] = q8_block_256::load(w[r][b]);
            dw[r] = _cvtsh_ss(w[r][b].scale_bits);
        }
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[t] + b * q8_0_block_size));
            const __m256i start = q8_block_256::lane_start(xb[t] + b * q8_lanes);
            const float dx = xs[t][b];
            MOE_UNROLL
            for (int r = 0; r < Rows; ++r) {
                const __m256i sums = wb[r].lane_sums(xv, start);
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(dw[r] * dx), acc[r][t]);
            }
        }
    }
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) out[t * out_stride + r] = tree_sum8(acc[r][t]);
}
#endif

template <int Rows, int Tokens>
void q8_tile(const q8_tokens& x, std::int64_t t0, const q8_0_block* const* w, std::int64_t blocks, float* out,
             std::int64_t out_stride, bool portable) {
#if defined(MOE_HAVE_VNNI_256) || defined(MOE_HAVE_Q8_AVX2)
    if (!portable) return q8_tile_256<Rows, Tokens>(x, t0, w, blocks, out, out_stride);
#elif defined(MOE_HAVE_Q8_NEON)
    if (!portable) return neon::q8_dot_tile<Rows, Tokens>(x, t0, w, blocks, out, out_stride);
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

// The path q8_dot_product_block runs (see the header comment), for tests and benchmarks to report.
enum class q8_path { vnni, avx2, neon, portable };
inline constexpr q8_path q8_dot_path =
#if defined(MOE_HAVE_VNNI_256)
    q8_path::vnni;
#elif defined(MOE_HAVE_Q8_AVX2)
    q8_path::avx2;
#elif defined(MOE_HAVE_Q8_NEON)
    q8_path::neon;
#else
    q8_path::portable;
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
    float lanes[q8_lanes] = {};
    for (std::int64_t b = 0; b < k / q8_0_block_size; ++b) {
        const float d = w[b].scale() * xs[b];
        for (int l = 0; l < q8_lanes; ++l) {
            std::int32_t s = 0;
            for (int i = 0; i < q8_bytes_per_lane; ++i) s += int(w[b].q[4 * l + i]) * int(xq[b * 32 + 4 * l + i]);
            lanes[l] = std::fma(float(s), d, lanes[l]);
        }
    }
    return detail::tree_sum8(lanes);
}

}  // namespace moe::cpu::kernels
