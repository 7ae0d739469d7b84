// moe/cpu/kernels/kquant_dot_tiles.hpp — out = X · Wᵀ with Q4_K, Q5_K or Q6_K weights and Q8_K-quantized
// activations (decode: a few tokens, bound by reading the weights).
//
// W is (rows, K) in super-blocks of 256 weights (precision/ggml_blocks.hpp), read in place; X is quantized once per
// product (quantize_tokens_q8_k). Rows are taken one at a time, each super-block unpacked once in registers and
// multiplied with up to 4 tokens, so a row block is one sequential stream for the hardware prefetcher.
//
// Summation order (the same on every path, so results do not depend on the thread count or the instruction set);
// per token, with lane[l] and offset[l] the exact integers of kquant_lane_sums (kquant_unpack.hpp), d = dx · dw:
//   q4_k, q5_k:  acc_l = fma(float(lane[l]), d, acc_l)                                   l < 8
//                min_i = fma(float(offset[2i] + offset[2i + 1]), −(dx · dmin), min_i)   i < 4
//   q6_k:        acc_l = fma(float(lane[l] − offset[l]), d, acc_l)                       l < 8
//   over super-blocks b = 0, 1, … from +0; then the trees acc: l + 4, + 2, + 1 and min: i + 2, + 1, and
//   out = acc (+ min).
// This is llama.cpp's AVX2 ggml_vec_dot_q4_K_q8_K and ggml_vec_dot_q6_K_q8_K order (the same lanes and trees); its
// AVX2 q5_K adds the minimums as one scalar per super-block instead, a difference of fp32 rounding only
// (≤ (K/256 + 4) · 2^-24 · Σ_k |dmin·m_k·x_k| for the minimum term).
// Paths, chosen at compile time from the target's macros (each computes the same exact integers, so the same bits):
// - AVX2 + FMA + F16C (x86-64-v3 and every AVX-512 target): llama.cpp's unpacking — nibbles by AND/shift, the
//   scales broadcast by vpshufb — and vpmaddubsw (unsigned weight × signed activation byte pairs: at most
//   2 · 63 · 127 < 2^15, never saturating) then vpmaddwd with the 16-bit scales: 8 int32 lanes of 4 weights each.
// - AArch64 with dotprod: neon/kquant_tiles.hpp — sdot (4 byte products into an int32 lane, as these lanes), then
//   the integer scales by mla and the same fp32 steps.
// - otherwise the portable loop over kquant_unpack.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "moe/cpu/kernels/dot_tiles.hpp"
#include "moe/cpu/kernels/kquant_unpack.hpp"
#include "moe/cpu/kernels/neon/kquant_tiles.hpp"  // ARM: sdot rows (MOE_HAVE_KQUANT_NEON)

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define MOE_HAVE_KQUANT_AVX2 1
#endif

namespace moe::cpu::kernels {

inline constexpr int kquant_tile_tokens = 4;  // tokens per tile: every decode batch (small_batch_tokens) is one

namespace detail {

// The tree sums of 8 lanes (l + 4, + 2, + 1) and of 4 (i + 2, + 1).
inline float kquant_tree8(float* lanes) {
    for (int width = 4; width >= 1; width /= 2)
        for (int l = 0; l < width; ++l) lanes[l] += lanes[l + width];
    return lanes[0];
}
inline float kquant_tree4(float* lanes) {
    for (int width = 2; width >= 1; width /= 2)
        for (int l = 0; l < width; ++l) lanes[l] += lanes[l + width];
    return lanes[0];
}

// One super-block's step of the order above for one token.
template <class Block>
void kquant_dot_step(const kquant_unpacked& w, const q8_k_block& x, float* acc, float* min) {
    std::int32_t lane[kquant_lanes], offset[kquant_lanes];
    kquant_lane_sums(w, x, lane, offset);
    const float d = x.d * w.d;
    if constexpr (kquant_has_min<Block>) {
        for (int l = 0; l < kquant_lanes; ++l) acc[l] = std::fma(float(lane[l]), d, acc[l]);
        const float dm = -(x.d * w.dmin);
        for (int i = 0; i < 4; ++i) min[i] = std::fma(float(offset[2 * i] + offset[2 * i + 1]), dm, min[i]);
    } else {
        for (int l = 0; l < kquant_lanes; ++l) acc[l] = std::fma(float(lane[l] - offset[l]), d, acc[l]);
    }
}

template <class Block>
float kquant_dot_finish(float* acc, float* min) {
    const float sum = kquant_tree8(acc);
    if constexpr (kquant_has_min<Block>) return sum + kquant_tree4(min);
    else return sum;
}

// Portable: one row × `tokens` (≤ 4) tokens, each super-block unpacked once.
template <class Block>
void kquant_row_portable(const q8_k_tokens& x, std::int64_t t0, int tokens, const Block* w, std::int64_t blocks,
                         float* out, std::int64_t out_stride) {
    float acc[kquant_tile_tokens][kquant_lanes] = {}, min[kquant_tile_tokens][4] = {};
    kquant_unpacked u;
    for (std::int64_t b = 0; b < blocks; ++b) {
        kquant_unpack(w[b], u);
        for (int t = 0; t < tokens; ++t) kquant_dot_step<Block>(u, x.blocks_of(t0 + t)[b], acc[t], min[t]);
    }
    for (int t = 0; t < tokens; ++t) out[t * out_stride] = kquant_dot_finish<Block>(acc[t], min[t]);
}

#if defined(MOE_HAVE_KQUANT_AVX2)
inline float kquant_tree8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));  // l + 4
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));                                          // + 2
    s = _mm_add_ss(s, _mm_movehdup_ps(s));                                           // + 1
    return _mm_cvtss_f32(s);
}
inline float kquant_tree4(__m128 v) {
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));     // i + 2
    v = _mm_add_ss(v, _mm_movehdup_ps(v));      // + 1
    return _mm_cvtss_f32(v);
}

// Bytes ahead of the super-block being read that each row prefetches (as q8_dot_tiles.hpp's q8_prefetch_bytes).
inline constexpr int kquant_prefetch_bytes = 4096;

// The 16-bit scale of sub-block i (of 8) in all 16 positions, from the 8 scales in both 128-bit halves.
inline __m256i k4_scale(__m256i scales, int i) {
    return _mm256_shuffle_epi8(scales, _mm256_set1_epi16(static_cast<short>(((2 * i + 1) << 8) | (2 * i))));
}

// A q4_k / q5_k super-block's 6-bit scales and mins: 8 scales as int16 in both halves of `scales`, 8 mins as int16
// in `mins` (llama.cpp's unpacking of get_scale_min_k4's layout).
inline void k4_scales_mins(const std::uint8_t* packed, __m256i& scales, __m128i& mins) {
    std::uint8_t bytes[16];
    kquant_scales_mins(packed, bytes);
    const __m256i both = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)));
    mins = _mm256_extracti128_si256(both, 1);
    scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(both));
}

// Sub-block pair c (weights 64c … 64c + 63) of a q4_k / q5_k super-block as two vectors of unsigned bytes.
inline void k4_pair(const q4_k_block& b, int c, __m256i& low, __m256i& high) {
    const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c));
    const __m256i m4 = _mm256_set1_epi8(0xF);
    low = _mm256_and_si256(bits, m4);
    high = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
}
inline void k4_pair(const q5_k_block& b, int c, __m256i& low, __m256i& high) {
    const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c));
    const __m256i hbits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
    const __m256i m4 = _mm256_set1_epi8(0xF), sixteen = _mm256_set1_epi8(16);
    const __m256i bit_low = _mm256_set1_epi8(static_cast<char>(1 << (2 * c)));
    const __m256i bit_high = _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 1)));
    const __m256i fifth_low = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, bit_low), bit_low), sixteen);
    const __m256i fifth_high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, bit_high), bit_high), sixteen);
    low = _mm256_or_si256(_mm256_and_si256(bits, m4), fifth_low);
    high = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), fifth_high);
}

inline __m256 kquant_int_to_float(__m256i v) { return _mm256_cvtepi32_ps(v); }

// q4_k / q5_k: one row × Tokens tokens.
template <class Block, int Tokens>
void k4_row_avx2(const q8_k_tokens& x, std::int64_t t0, const Block* w, std::int64_t blocks, float* out,
                 std::int64_t out_stride) {
    __m256 acc[Tokens];
    __m128 min[Tokens];
    const q8_k_block* xb[Tokens];
    const std::int16_t* xs[Tokens];
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) {
        acc[t] = _mm256_setzero_ps();
        min[t] = _mm_setzero_ps();
        xb[t] = x.blocks_of(t0 + t);
        xs[t] = x.pair_sums_of(t0 + t);
    }
    for (std::int64_t b = 0; b < blocks; ++b) {
        const Block& block = w[b];
        _mm_prefetch(reinterpret_cast<const char*>(w + b) + kquant_prefetch_bytes, _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(w + b) + kquant_prefetch_bytes + 64, _MM_HINT_T0);
        __m256i scales;
        __m128i mins;
        k4_scales_mins(block.scales, scales, mins);
        __m256i sumi[Tokens];
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) sumi[t] = _mm256_setzero_si256();
        MOE_UNROLL
        for (int c = 0; c < 4; ++c) {
            __m256i low, high;
            k4_pair(block, c, low, high);
            const __m256i scale_low = k4_scale(scales, 2 * c), scale_high = k4_scale(scales, 2 * c + 1);
            MOE_UNROLL
            for (int t = 0; t < Tokens; ++t) {
                const std::int8_t* q = xb[t][b].qs + 64 * c;
                const __m256i xl = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
                const __m256i xh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32));
                const __m256i pl = _mm256_madd_epi16(scale_low, _mm256_maddubs_epi16(low, xl));
                const __m256i ph = _mm256_madd_epi16(scale_high, _mm256_maddubs_epi16(high, xh));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(pl, ph));
            }
        }
        const float dw = _cvtsh_ss(block.d), dmw = _cvtsh_ss(block.dmin);
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            const float dx = xb[t][b].d;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dw), kquant_int_to_float(sumi[t]), acc[t]);
            const __m128i sums = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xs[t] + 8 * b));
            min[t] = _mm_fmadd_ps(_mm_set1_ps(-(dx * dmw)), _mm_cvtepi32_ps(_mm_madd_epi16(mins, sums)), min[t]);
        }
    }
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) out[t * out_stride] = kquant_tree8(acc[t]) + kquant_tree4(min[t]);
}

// q6_k: one row × Tokens tokens.
template <int Tokens>
void k6_row_avx2(const q8_k_tokens& x, std::int64_t t0, const q6_k_block* w, std::int64_t blocks, float* out,
                 std::int64_t out_stride) {
    __m256 acc[Tokens];
    const q8_k_block* xb[Tokens];
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) acc[t] = _mm256_setzero_ps(), xb[t] = x.blocks_of(t0 + t);
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    for (std::int64_t b = 0; b < blocks; ++b) {
        const q6_k_block& block = w[b];
        const char* p = reinterpret_cast<const char*>(w + b) + kquant_prefetch_bytes;
        _mm_prefetch(p, _MM_HINT_T0);
        _mm_prefetch(p + 64, _MM_HINT_T0);
        _mm_prefetch(p + 128, _MM_HINT_T0);
        const __m128i scales8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.scales));
        __m256i sumi[Tokens];
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) sumi[t] = _mm256_setzero_si256();
        MOE_UNROLL
        for (int n = 0; n < 2; ++n) {
            const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.ql + 64 * n));
            const __m256i l2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.ql + 64 * n + 32));
            const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qh + 32 * n));
            __m256i g[4];
            g[0] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
            g[1] = _mm256_or_si256(_mm256_and_si256(l2, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(12)), 2));
            g[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(h, _mm256_set1_epi8(48)));
            g[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l2, 4), m4),
                                   _mm256_srli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(static_cast<char>(0xC0))), 2));
            MOE_UNROLL
            for (int m = 0; m < 4; ++m) {
                const int c = 4 * n + m;  // 32-weight group: sixteens 2c (low half) and 2c + 1 (high half)
                const __m128i pick = _mm_set_epi64x(0x0101010101010101LL * (2 * c + 1), 0x0101010101010101LL * (2 * c));
                const __m256i scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales8, pick));
                MOE_UNROLL
                for (int t = 0; t < Tokens; ++t) {
                    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[t][b].qs + 32 * c));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(scale, _mm256_maddubs_epi16(g[m], xv)));
                }
            }
        }
        const __m256i scales16 = _mm256_cvtepi8_epi16(scales8);
        const float dw = _cvtsh_ss(block.d);
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[t][b].bsums));
            const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, scales16), 5);  // 32 · sc · bsum
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(xb[t][b].d * dw),
                                     kquant_int_to_float(_mm256_sub_epi32(sumi[t], offset)), acc[t]);
        }
    }
    MOE_UNROLL
    for (int t = 0; t < Tokens; ++t) out[t * out_stride] = kquant_tree8(acc[t]);
}

template <class Block, int Tokens>
void kquant_row_avx2(const q8_k_tokens& x, std::int64_t t0, const Block* w, std::int64_t blocks, float* out,
                     std::int64_t out_stride) {
    if constexpr (std::is_same_v<Block, q6_k_block>) k6_row_avx2<Tokens>(x, t0, w, blocks, out, out_stride);
    else k4_row_avx2<Block, Tokens>(x, t0, w, blocks, out, out_stride);
}
#endif

template <class Block>
void kquant_row(const q8_k_tokens& x, std::int64_t t0, int tokens, const Block* w, std::int64_t blocks, float* out,
                std::int64_t out_stride, bool portable) {
#if defined(MOE_HAVE_KQUANT_AVX2)
    if (!portable) {
        static_assert(kquant_tile_tokens == 4, "add a case below for each token count up to kquant_tile_tokens");
        switch (tokens) {
            case 1: return kquant_row_avx2<Block, 1>(x, t0, w, blocks, out, out_stride);
            case 2: return kquant_row_avx2<Block, 2>(x, t0, w, blocks, out, out_stride);
            case 3: return kquant_row_avx2<Block, 3>(x, t0, w, blocks, out, out_stride);
            case 4: return kquant_row_avx2<Block, 4>(x, t0, w, blocks, out, out_stride);
            default: return;
        }
    }
#elif defined(MOE_HAVE_KQUANT_NEON)
    if (!portable) {
        static_assert(kquant_tile_tokens == 4, "add a case below for each token count up to kquant_tile_tokens");
        switch (tokens) {
            case 1: return neon::kquant_dot_row<Block, 1>(x, t0, w, blocks, out, out_stride);
            case 2: return neon::kquant_dot_row<Block, 2>(x, t0, w, blocks, out, out_stride);
            case 3: return neon::kquant_dot_row<Block, 3>(x, t0, w, blocks, out, out_stride);
            case 4: return neon::kquant_dot_row<Block, 4>(x, t0, w, blocks, out, out_stride);
            default: return;
        }
    }
#endif
    (void)portable;
    kquant_row_portable<Block>(x, t0, tokens, w, blocks, out, out_stride);
}

}  // namespace detail

// The path kquant_dot_product_block runs (see the header comment), for tests and benchmarks to report.
enum class kquant_path { avx2, neon, portable };
inline constexpr kquant_path kquant_dot_path =
#if defined(MOE_HAVE_KQUANT_AVX2)
    kquant_path::avx2;
#elif defined(MOE_HAVE_KQUANT_NEON)
    kquant_path::neon;
#else
    kquant_path::portable;
#endif

// out[t · out_stride + r] = Σ_k x(t, k) · w(r, k) for t < tokens, r < rows, in the order of the header comment.
// x: Q8_K tokens (k a multiple of 256); w: (rows, K) super-blocks with row stride w_stride blocks.
// `portable` forces the portable loop (tests).
template <class Block>
    requires is_kquant_block<Block>
void kquant_dot_product_block(const q8_k_tokens& x, std::int64_t tokens, const Block* w, std::int64_t w_stride,
                              std::int64_t rows, float* out, std::int64_t out_stride, bool portable = false) {
    const std::int64_t blocks = x.k / qk_k;
    for (std::int64_t t0 = 0; t0 < tokens; t0 += kquant_tile_tokens) {
        const int tt = static_cast<int>(tokens - t0 < kquant_tile_tokens ? tokens - t0 : kquant_tile_tokens);
        for (std::int64_t r = 0; r < rows; ++r)
            detail::kquant_row<Block>(x, t0, tt, w + r * w_stride, blocks, out + t0 * out_stride + r, out_stride,
                                      portable);
    }
}

// The plain-loop definition of the same sum for one token and one row (tests compare the tiles with it).
// x: (K/256) Q8_K blocks, w: (K/256) weight super-blocks.
template <class Block>
    requires is_kquant_block<Block>
float kquant_dot_product_reference(const q8_k_block* x, const Block* w, std::int64_t k) {
    float acc[kquant_lanes] = {}, min[4] = {};
    kquant_unpacked u;
    for (std::int64_t b = 0; b < k / qk_k; ++b) {
        kquant_unpack(w[b], u);
        detail::kquant_dot_step<Block>(u, x[b], acc, min);
    }
    return detail::kquant_dot_finish<Block>(acc, min);
}

}  // namespace moe::cpu::kernels
