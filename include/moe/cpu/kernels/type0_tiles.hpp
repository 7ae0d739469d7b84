// moe/cpu/kernels/type0_tiles.hpp — X · Wᵀ with Q4_0 or Q5_0 weights and Q8_0-quantized activations, decode and
// prefill: llama.cpp's Q4_0 × Q8_0 and Q5_0 × Q8_0 products.
//
// Both are ggml's "type-0" blocks of 32 weights w = d · (u − o) with one fp16 scale d: Q4_0 a 4-bit u and o = 8,
// Q5_0 a 5-bit u and o = 16 (precision/ggml_blocks.hpp; type0_block below says how each unpacks). Activations are
// quantized to Q8_0 as for weight_format::q8_0 (q8_tokens / pack_q8_0, precision/q8_0.hpp), so a block's product
// is the exact integer Σ (u − o) · x scaled by dw · dx in fp32 — the q8_0 kernels' arithmetic with narrower weights:
//   decode (type0_dot_product_block): the order of q8_dot_tiles.hpp — 8 lanes of 4 consecutive weights per block,
//     acc_l = fma(float(s_l), dw · dx, acc_l) over blocks, then the tree l + 4, + 2, + 1; llama.cpp's AVX2
//     ggml_vec_dot_q4_0_q8_0 / ggml_vec_dot_q5_0_q8_0 order. Tiles of 4 rows × 1–2 tokens or 2 rows × 3–4 tokens
//     (each row's chain as above: one row alone is bound by its fma chain's latency, not by memory); the values are
//     unpacked in registers (AVX2: AND/shift, Q5_0's fifth bits spread to bytes by a shuffle and compare, then
//     vpmaddubsw of the unsigned u with x, whose pairs are at most 2 · 31 · 127, plus the token's −o · Σ x per lane
//     from q8_tokens' lane_bias; VNNI: one vpdpbusd from that start; NEON: u − o as signed bytes and sdot,
//     neon/kquant_tiles.hpp).
//   prefill (type0_gemm_block_transposed): 8 rows at a time are widened to Q8_0 blocks (u − o as signed bytes, the
//     same fp16 d: exact; in vector registers) and multiplied by q8_gemm_tiles.hpp — its order and its AVX-512 /
//     AVX2 / NEON tiles.
#pragma once

#include <cstdint>
#include <cstring>

#include "moe/cpu/kernels/dot_tiles.hpp"
#include "moe/cpu/kernels/neon/kquant_tiles.hpp"  // ARM: sdot tiles (MOE_HAVE_KQUANT_NEON)
#include "moe/cpu/kernels/q8_dot_tiles.hpp"
#include "moe/cpu/kernels/q8_gemm_tiles.hpp"
#include "moe/cpu/workspace.hpp"
#include "moe/precision/ggml_blocks.hpp"
#include "moe/precision/q8_0.hpp"

namespace moe::cpu::kernels {

inline constexpr int type0_tile_tokens = 4;

// How a type-0 block unpacks: its offset o, the unsigned value u (0 … 2^bits − 1) of weight j, and (AVX2) all 32
// values in one vector, byte j = weight j.
template <class Block>
struct type0_block;

template <>
struct type0_block<q4_0_block> {
    static constexpr int offset = 8;
    static constexpr int value(const q4_0_block& b, int j) { return j < 16 ? (b.qs[j] & 0xF) : (b.qs[j - 16] >> 4); }
#if defined(MOE_HAVE_VNNI_256) || defined(MOE_HAVE_Q8_AVX2)
    static __m256i values_256(const q4_0_block& b) {
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
        return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0xF));
    }
#endif
};

template <>
struct type0_block<q5_0_block> {
    static constexpr int offset = 16;
    static constexpr int value(const q5_0_block& b, int j) { return q5_0_value(b, j); }
#if defined(MOE_HAVE_VNNI_256) || defined(MOE_HAVE_Q8_AVX2)
    static __m256i values_256(const q5_0_block& b) {
        const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
        const __m256i low = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0xF));
        // Byte j gets qh's byte j / 8, then keeps bit j % 8: all ones where it is set (llama.cpp's bytes_from_bits_32).
        std::uint32_t qh;
        std::memcpy(&qh, b.qh, 4);
        const __m256i spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(static_cast<int>(qh)),
            _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000));
        const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
        const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
        return _mm256_or_si256(low, _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
    }
#endif
};

template <class Block>
concept type0_weight_block = requires { type0_block<Block>::offset; };

// A type-0 block as the Q8_0 block of the same values: q = u − o, the same scale (exact).
template <type0_weight_block Block>
void widen_type0_block(const Block& in, q8_0_block& out) {
    std::int8_t q[q8_0_block_size];  // a local array: the loop vectorises (in and out may not alias)
    for (int j = 0; j < q8_0_block_size; ++j)
        q[j] = static_cast<std::int8_t>(type0_block<Block>::value(in, j) - type0_block<Block>::offset);
    std::memcpy(out.q, q, sizeof q);
    out.scale_bits = in.d;
}

namespace detail {

// Lane l's exact integer in one block: Σ_{i<4} (u − o) · x over weights 4l + i.
template <class Block>
std::int32_t type0_lane_sum(const Block& w, const std::int8_t* x, int lane) {
    std::int32_t s = 0;
    for (int i = 0; i < 4; ++i) {
        const int j = 4 * lane + i;
        s += (type0_block<Block>::value(w, j) - type0_block<Block>::offset) * std::int32_t{x[j]};
    }
    return s;
}

template <class Block>
void type0_row_portable(const q8_tokens& x, std::int64_t t0, int tokens, const Block* w, std::int64_t blocks,
                        float* out, std::int64_t out_stride) {
    float acc[type0_tile_tokens][q8_lanes] = {};
    for (std::int64_t b = 0; b < blocks; ++b)
        for (int t = 0; t < tokens; ++t) {
            const float d = float16::to_float(w[b].d) * x.scales_of(t0 + t)[b];
            const std::int8_t* xq = x.q_of(t0 + t) + b * q8_0_block_size;
            for (int l = 0; l < q8_lanes; ++l) acc[t][l] = std::fma(float(type0_lane_sum(w[b], xq, l)), d, acc[t][l]);
        }
    for (int t = 0; t < tokens; ++t) out[t * out_stride] = tree_sum8(acc[t]);
}

#if defined(MOE_HAVE_VNNI_256) || defined(MOE_HAVE_Q8_AVX2)
// Rows × Tokens tile. Each row's chain is the order above, unchanged; several rows run side by side because one
// row's fma chain alone (one dependent fma per 32 weights) bounds a 1-token product at 5 cycles per block on Zen —
// 18 bytes per 5 cycles, half of what memory delivers (measured: 1 row 3.6 ns / block, see docs/performance.md).
template <class Block, int Rows, int Tokens>
void type0_tile_256(const q8_tokens& x, std::int64_t t0, const Block* const* w, std::int64_t blocks, float* out,
                    std::int64_t out_stride) {
    // −o · Σ of each lane's 4 bytes from lane_bias (−128 · Σ): a right shift by 4 (o = 8) or 3 (o = 16), exact.
    constexpr int bias_shift = type0_block<Block>::offset == 8 ? 4 : 3;
    static_assert(type0_block<Block>::offset == 8 || type0_block<Block>::offset == 16);
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
#if !defined(MOE_HAVE_VNNI_256)
    const __m256i ones = _mm256_set1_epi16(1);
#endif
    for (std::int64_t b = 0; b < blocks; ++b) {
        __m256i u[Rows];
        __m256 dw[Rows];
        MOE_UNROLL
        for (int r = 0; r < Rows; ++r) {
            if ((b & 3) == 0) {  // 4 blocks are 72 (Q4_0) or 88 (Q5_0) bytes: two lines ahead cover every line
                const char* ahead = reinterpret_cast<const char*>(w[r] + b) + q8_prefetch_bytes;
                _mm_prefetch(ahead, _MM_HINT_T0);
                _mm_prefetch(ahead + 64, _MM_HINT_T0);
            }
            u[r] = type0_block<Block>::values_256(w[r][b]);  // weights 0…31
            dw[r] = _mm256_set1_ps(_cvtsh_ss(w[r][b].d));
        }
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[t] + b * q8_0_block_size));
            const __m256i start = _mm256_srai_epi32(
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[t] + b * q8_lanes)), bias_shift);
            const __m256 dx = _mm256_broadcast_ss(xs[t] + b);
            MOE_UNROLL
            for (int r = 0; r < Rows; ++r) {
#if defined(MOE_HAVE_VNNI_256)
                const __m256i sums = dpbusd256(start, u[r], xv);
#else
                const __m256i sums = _mm256_add_epi32(start, _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], xv), ones));
#endif
                // dw · dx rounded to fp32 once, as the portable loop's scalar product.
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(dw[r], dx), acc[r][t]);
            }
        }
    }
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_UNROLL
        for (int t = 0; t < Tokens; ++t) out[t * out_stride + r] = tree_sum8(acc[r][t]);
}
#endif

// Rows × Tokens tile on the compiled path; rows one at a time on the portable one.
template <class Block, int Rows, int Tokens>
void type0_tile(const q8_tokens& x, std::int64_t t0, const Block* const* w, std::int64_t blocks, float* out,
                std::int64_t out_stride, bool portable) {
#if defined(MOE_HAVE_VNNI_256) || defined(MOE_HAVE_Q8_AVX2)
    if (!portable) return type0_tile_256<Block, Rows, Tokens>(x, t0, w, blocks, out, out_stride);
#elif defined(MOE_HAVE_KQUANT_NEON)
    if (!portable) return neon::type0_dot_tile<Rows, Tokens>(x, t0, w, blocks, out, out_stride);
#endif
    (void)portable;
    MOE_UNROLL
    for (int r = 0; r < Rows; ++r) type0_row_portable(x, t0, Tokens, w[r], blocks, out + r, out_stride);
}

template <class Block, int Rows>
void type0_tile_any_tokens(int tokens, const q8_tokens& x, std::int64_t t0, const Block* const* w,
                           std::int64_t blocks, float* out, std::int64_t out_stride, bool portable) {
    static_assert(type0_tile_tokens == 4, "add a case below for each token count up to type0_tile_tokens");
    switch (tokens) {
        case 1: return type0_tile<Block, Rows, 1>(x, t0, w, blocks, out, out_stride, portable);
        case 2: return type0_tile<Block, Rows, 2>(x, t0, w, blocks, out, out_stride, portable);
        case 3: return type0_tile<Block, Rows, 3>(x, t0, w, blocks, out, out_stride, portable);
        case 4: return type0_tile<Block, Rows, 4>(x, t0, w, blocks, out, out_stride, portable);
        default: return;
    }
}

// A type-0 block widened to Q8_0 on the compiled path (the same bytes on every path).
template <class Block>
void widen_type0(const Block& in, q8_0_block& out) {
#if defined(MOE_HAVE_VNNI_256) || defined(MOE_HAVE_Q8_AVX2)
    const __m256i u = type0_block<Block>::values_256(in);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.q),
                        _mm256_sub_epi8(u, _mm256_set1_epi8(static_cast<char>(type0_block<Block>::offset))));
    out.scale_bits = in.d;
#elif defined(MOE_HAVE_KQUANT_NEON)
    neon::widen_type0_block(in, out);
#else
    widen_type0_block(in, out);
#endif
}

template <class Block, int Rows>
void type0_rows(const q8_tokens& x, std::int64_t t0, int tokens, const Block* w, std::int64_t w_stride,
                std::int64_t rows, std::int64_t blocks, float* out, std::int64_t out_stride, bool portable) {
    std::int64_t r0 = 0;
    for (; r0 + Rows <= rows; r0 += Rows) {
        const Block* ws[Rows];
        for (int r = 0; r < Rows; ++r) ws[r] = w + (r0 + r) * w_stride;
        type0_tile_any_tokens<Block, Rows>(tokens, x, t0, ws, blocks, out + r0, out_stride, portable);
    }
    for (; r0 < rows; ++r0) {
        const Block* ws[1] = {w + r0 * w_stride};
        type0_tile_any_tokens<Block, 1>(tokens, x, t0, ws, blocks, out + r0, out_stride, portable);
    }
}

}  // namespace detail

// out[t · out_stride + r] = Σ_k x(t, k) · w(r, k) for t < tokens, r < rows (decode order, see the header comment).
// x: Q8_0 tokens (quantize_tokens_q8_0); w: (rows, K) blocks with row stride w_stride blocks.
// `portable` forces the portable loop (tests).
template <type0_weight_block Block>
void type0_dot_product_block(const q8_tokens& x, std::int64_t tokens, const Block* w, std::int64_t w_stride,
                             std::int64_t rows, float* out, std::int64_t out_stride, bool portable = false) {
    const std::int64_t blocks = x.k / q8_0_block_size;
    for (std::int64_t t0 = 0; t0 < tokens; t0 += type0_tile_tokens) {
        const int tt = static_cast<int>(tokens - t0 < type0_tile_tokens ? tokens - t0 : type0_tile_tokens);
        // Tiles of 4 rows × 1–2 tokens or 2 rows × 3–4 (at most 8 accumulators: 16 vector registers on AVX2).
        if (tt <= 2) {
            detail::type0_rows<Block, 4>(x, t0, tt, w, w_stride, rows, blocks, out + t0 * out_stride, out_stride,
                                         portable);
        } else {
            detail::type0_rows<Block, 2>(x, t0, tt, w, w_stride, rows, blocks, out + t0 * out_stride, out_stride,
                                         portable);
        }
    }
}

// ct (rows, np) = W[0:rows] · X over all K from activations packed by pack_q8_0 (q8_gemm_tiles.hpp's layout), in
// the q8_0 GEMM's order. w: (rows, K/32) blocks with row stride w_stride blocks.
template <type0_weight_block Block>
void type0_gemm_block_transposed(const std::uint32_t* xp, std::int64_t np, const Block* w, std::int64_t w_stride,
                                 std::int64_t rows, std::int64_t k, float* ct, bool portable = false) {
    constexpr std::int64_t rows_per_chunk = 8;  // the AVX-512 tile's rows; 8 × K/32 widened blocks stay in L2
    const std::int64_t blocks = k / q8_0_block_size;
    q8_0_block* widened = scratch<q8_0_block>(scratch_slot::widened_chunk, rows_per_chunk * blocks);
    for (std::int64_t r0 = 0; r0 < rows; r0 += rows_per_chunk) {
        const std::int64_t n = rows - r0 < rows_per_chunk ? rows - r0 : rows_per_chunk;
        for (std::int64_t r = 0; r < n; ++r)
            for (std::int64_t b = 0; b < blocks; ++b) detail::widen_type0(w[(r0 + r) * w_stride + b], widened[r * blocks + b]);
        q8_gemm_block_transposed(xp, np, widened, blocks, n, k, ct + r0 * np, portable);
    }
}

// The plain-loop definitions (tests compare the kernels with them). xq: (K) activation bytes, xs: (K/32) scales.
template <type0_weight_block Block>
float type0_dot_product_reference(const std::int8_t* xq, const float* xs, const Block* w, std::int64_t k) {
    float lanes[q8_lanes] = {};
    for (std::int64_t b = 0; b < k / q8_0_block_size; ++b) {
        const float d = float16::to_float(w[b].d) * xs[b];
        for (int l = 0; l < q8_lanes; ++l) lanes[l] = std::fma(float(detail::type0_lane_sum(w[b], xq + 32 * b, l)), d, lanes[l]);
    }
    return detail::tree_sum8(lanes);
}
template <type0_weight_block Block>
float type0_gemm_reference(const std::int8_t* xq, const float* xs, const Block* w, std::int64_t k) {
    float acc = 0.0f;
    for (std::int64_t b = 0; b < k / q8_0_block_size; ++b) {
        std::int32_t s = 0;
        for (int l = 0; l < q8_lanes; ++l) s += detail::type0_lane_sum(w[b], xq + 32 * b, l);
        acc = std::fma(float(s), float16::to_float(w[b].d) * xs[b], acc);
    }
    return acc;
}

}  // namespace moe::cpu::kernels
