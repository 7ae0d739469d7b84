// moe/cpu/kernels/neon/kquant_tiles.hpp — the ARM NEON paths of the Q4_0 / Q5_0 and K-quant decode products
// (type0_tiles.hpp, kquant_dot_tiles.hpp) and of the Q4_0 / Q5_0 prefill's widening, for targets with the
// dot-product extension (armv8.2-a+dotprod and later: __ARM_FEATURE_DOTPROD).
//
// `sdot` adds each group of 4 byte products into one int32 lane: exactly a lane of those headers' summation orders
// (4 consecutive weights), so these tiles sum the same exact integers, then take the same fp32 steps, and give the
// same bits as the portable loops.
// - q4_0, q5_0: a block's values become two vectors of signed bytes u − o (weights 0–15: lanes 0–3, 16–31: lanes
//   4–7; Q5_0's fifth bits are spread to bytes by a bit test),
//   sdot with the token's Q8_0 bytes, one fma per vector (acc_l = fma(float(s_l), dw · dx, acc_l)), then the tree
//   l + 4, + 2, + 1. Tiles of Rows × Tokens as the q8_0 NEON tiles; each row's chain is unchanged.
// - q4_k, q5_k, q6_k: a super-block's unsigned values (at most 63: sdot's signed bytes hold them) as two vectors per
//   32-weight group; per group and token sdot from zero, times the integer scale of each 16 weights (mla), into the
//   lanes of kquant_lane_sums; the offsets from the token's bsums by widening multiplies and pairwise adds; then
//   kquant_dot_tiles.hpp's fp32 steps. One row × up to 4 tokens, each super-block unpacked once in registers.
#pragma once

#if defined(__ARM_NEON) && defined(__ARM_FEATURE_DOTPROD)
#define MOE_HAVE_KQUANT_NEON 1

#include <arm_neon.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "moe/cpu/kernels/kquant_unpack.hpp"
#include "moe/cpu/kernels/neon/q8_tiles.hpp"
#include "moe/cpu/kernels/neon/unroll.hpp"
#include "moe/precision/ggml_blocks.hpp"
#include "moe/precision/q8_0.hpp"

namespace moe::cpu::kernels::neon {

// An fp16 scale as fp32 (one fcvt; exact, like float16::to_float).
inline float fp16_value(std::uint16_t bits) {
    __fp16 h;
    std::memcpy(&h, &bits, sizeof h);
    return static_cast<float>(h);
}

// The 4-lane tree of kquant_dot_tiles.hpp's minimums (i + 2, + 1).
inline float tree_sum4(float32x4_t v) {
    const float32x2_t p = vadd_f32(vget_low_f32(v), vget_high_f32(v));  // i + 2
    return vget_lane_f32(p, 0) + vget_lane_f32(p, 1);                    // + 1
}

// ---- q4_0, q5_0 ----

// A block's 32 values u − o as signed bytes: weights 0–15 and 16–31.
inline void type0_values(const q4_0_block& block, int8x16_t& lo, int8x16_t& hi) {
    const uint8x16_t packed = vld1q_u8(block.qs);
    const int8x16_t eight = vdupq_n_s8(8);
    lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(packed, vdupq_n_u8(0xF))), eight);
    hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(packed, 4)), eight);
}
inline void type0_values(const q5_0_block& block, int8x16_t& lo, int8x16_t& hi) {
    const uint8x16_t packed = vld1q_u8(block.qs);
    // Byte j of a half: qh's byte j / 8 tested against bit j % 8, all ones where set; keep 0x10 of it.
    static constexpr std::uint8_t bit_of[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bits = vld1q_u8(bit_of), fifth = vdupq_n_u8(0x10);
    const uint8x16_t qh_lo = vcombine_u8(vdup_n_u8(block.qh[0]), vdup_n_u8(block.qh[1]));
    const uint8x16_t qh_hi = vcombine_u8(vdup_n_u8(block.qh[2]), vdup_n_u8(block.qh[3]));
    const uint8x16_t u_lo = vorrq_u8(vandq_u8(packed, vdupq_n_u8(0xF)), vandq_u8(vtstq_u8(qh_lo, bits), fifth));
    const uint8x16_t u_hi = vorrq_u8(vshrq_n_u8(packed, 4), vandq_u8(vtstq_u8(qh_hi, bits), fifth));
    const int8x16_t sixteen = vdupq_n_s8(16);
    lo = vsubq_s8(vreinterpretq_s8_u8(u_lo), sixteen);
    hi = vsubq_s8(vreinterpretq_s8_u8(u_hi), sixteen);
}

// A Q4_0 / Q5_0 block as the Q8_0 block of the same values (type0_tiles.hpp's widen_type0_block).
template <class Block>
void widen_type0_block(const Block& in, q8_0_block& out) {
    int8x16_t lo, hi;
    type0_values(in, lo, hi);
    vst1q_s8(out.q, lo);
    vst1q_s8(out.q + 16, hi);
    out.scale_bits = in.d;
}

// Decode tile: out[t · out_stride + r] for r < Rows, t < Tokens. X is q8_dot_tiles.hpp's q8_tokens.
template <int Rows, int Tokens, class X, class Block>
void type0_dot_tile(const X& x, std::int64_t t0, const Block* const* w, std::int64_t blocks, float* out,
                    std::int64_t out_stride) {
    if constexpr (Rows > 1 && Rows * Tokens > 8) {  // 2 accumulators per pair: above 8 pairs GCC spills (q8_tiles.hpp)
        constexpr int half = Rows / 2;
        type0_dot_tile<half, Tokens>(x, t0, w, blocks, out, out_stride);
        type0_dot_tile<Rows - half, Tokens>(x, t0, w + half, blocks, out + half, out_stride);
        return;
    }
    float32x4_t lo[Rows][Tokens], hi[Rows][Tokens];
    MOE_NEON_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_NEON_UNROLL
        for (int t = 0; t < Tokens; ++t) lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
    const std::int8_t* xq[Tokens];
    const float* xs[Tokens];
    MOE_NEON_UNROLL
    for (int t = 0; t < Tokens; ++t) xq[t] = x.q_of(t0 + t), xs[t] = x.scales_of(t0 + t);
    const int32x4_t zero = vdupq_n_s32(0);
    for (std::int64_t b = 0; b < blocks; ++b) {
        int8x16_t w_lo[Rows], w_hi[Rows];
        float dw[Rows];
        MOE_NEON_UNROLL
        for (int r = 0; r < Rows; ++r) {
            type0_values(w[r][b], w_lo[r], w_hi[r]);
            dw[r] = fp16_value(w[r][b].d);
        }
        MOE_NEON_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            const int8x16_t x_lo = vld1q_s8(xq[t] + 32 * b), x_hi = vld1q_s8(xq[t] + 32 * b + 16);
            const float dx = xs[t][b];
            MOE_NEON_UNROLL
            for (int r = 0; r < Rows; ++r) {
                const float d = dw[r] * dx;
                lo[r][t] = vfmaq_n_f32(lo[r][t], vcvtq_f32_s32(vdotq_s32(zero, w_lo[r], x_lo)), d);
                hi[r][t] = vfmaq_n_f32(hi[r][t], vcvtq_f32_s32(vdotq_s32(zero, w_hi[r], x_hi)), d);
            }
        }
    }
    MOE_NEON_UNROLL
    for (int r = 0; r < Rows; ++r)
        MOE_NEON_UNROLL
        for (int t = 0; t < Tokens; ++t) out[t * out_stride + r] = q8_tree_sum8(lo[r][t], hi[r][t]);
}

// ---- q4_k, q5_k, q6_k ----

namespace detail {

// lanes 0–3 (lo) and 4–7 (hi) += scale_lo · sdot(u_lo, x_lo), scale_hi · sdot(u_hi, x_hi): one 32-weight group.
inline void kquant_group(int32x4_t& lo, int32x4_t& hi, uint8x16_t u_lo, uint8x16_t u_hi, const std::int8_t* x,
                         std::int32_t scale_lo, std::int32_t scale_hi) {
    const int32x4_t zero = vdupq_n_s32(0);
    lo = vmlaq_n_s32(lo, vdotq_s32(zero, vreinterpretq_s8_u8(u_lo), vld1q_s8(x)), scale_lo);
    hi = vmlaq_n_s32(hi, vdotq_s32(zero, vreinterpretq_s8_u8(u_hi), vld1q_s8(x + 16)), scale_hi);
}

// q4_k / q5_k: one row × Tokens tokens.
template <class Block, int Tokens>
void k4_row(const q8_k_tokens& x, std::int64_t t0, const Block* w, std::int64_t blocks, float* out,
            std::int64_t out_stride) {
    float32x4_t lo[Tokens], hi[Tokens], min[Tokens];
    const q8_k_block* xb[Tokens];
    const std::int16_t* xs[Tokens];
    MOE_NEON_UNROLL
    for (int t = 0; t < Tokens; ++t) {
        lo[t] = hi[t] = min[t] = vdupq_n_f32(0.0f);
        xb[t] = x.blocks_of(t0 + t);
        xs[t] = x.pair_sums_of(t0 + t);
    }
    const uint8x16_t m4 = vdupq_n_u8(0xF);
    for (std::int64_t b = 0; b < blocks; ++b) {
        const Block& block = w[b];
        std::uint8_t scales_mins[16];
        kquant_scales_mins(block.scales, scales_mins);
        int32x4_t sum_lo[Tokens], sum_hi[Tokens];
        MOE_NEON_UNROLL
        for (int t = 0; t < Tokens; ++t) sum_lo[t] = sum_hi[t] = vdupq_n_s32(0);
        MOE_NEON_UNROLL
        for (int c = 0; c < 4; ++c) {  // weights 64c … + 31 (low nibbles: group 2c), 64c + 32 … + 63 (group 2c + 1)
            const uint8x16_t bits0 = vld1q_u8(block.qs + 32 * c), bits1 = vld1q_u8(block.qs + 32 * c + 16);
            uint8x16_t u[4] = {vandq_u8(bits0, m4), vandq_u8(bits1, m4), vshrq_n_u8(bits0, 4), vshrq_n_u8(bits1, 4)};
            if constexpr (std::is_same_v<Block, q5_k_block>) {  // bit 2c (low) or 2c + 1 (high) of qh[i]: 16
                const uint8x16_t h0 = vld1q_u8(block.qh), h1 = vld1q_u8(block.qh + 16), sixteen = vdupq_n_u8(16);
                const uint8x16_t bit_low = vdupq_n_u8(static_cast<std::uint8_t>(1 << (2 * c)));
                const uint8x16_t bit_high = vdupq_n_u8(static_cast<std::uint8_t>(1 << (2 * c + 1)));
                u[0] = vorrq_u8(u[0], vandq_u8(vtstq_u8(h0, bit_low), sixteen));
                u[1] = vorrq_u8(u[1], vandq_u8(vtstq_u8(h1, bit_low), sixteen));
                u[2] = vorrq_u8(u[2], vandq_u8(vtstq_u8(h0, bit_high), sixteen));
                u[3] = vorrq_u8(u[3], vandq_u8(vtstq_u8(h1, bit_high), sixteen));
            }
            const std::int32_t scale_low = scales_mins[2 * c], scale_high = scales_mins[2 * c + 1];
            MOE_NEON_UNROLL
            for (int t = 0; t < Tokens; ++t) {
                const std::int8_t* q = xb[t][b].qs + 64 * c;
                kquant_group(sum_lo[t], sum_hi[t], u[0], u[1], q, scale_low, scale_low);
                kquant_group(sum_lo[t], sum_hi[t], u[2], u[3], q + 32, scale_high, scale_high);
            }
        }
        const float dw = fp16_value(block.d), dmw = fp16_value(block.dmin);
        const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(scales_mins + 8)));
        MOE_NEON_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            const float dx = xb[t][b].d, d = dx * dw;
            lo[t] = vfmaq_n_f32(lo[t], vcvtq_f32_s32(sum_lo[t]), d);
            hi[t] = vfmaq_n_f32(hi[t], vcvtq_f32_s32(sum_hi[t]), d);
            // offset[2i] + offset[2i + 1] = m_2i · pair_sum_2i + m_2i+1 · pair_sum_2i+1
            const int16x8_t sums = vld1q_s16(xs[t] + 8 * b);
            const int32x4_t offsets = vpaddq_s32(vmull_s16(vget_low_s16(mins), vget_low_s16(sums)), vmull_high_s16(mins, sums));
            min[t] = vfmaq_n_f32(min[t], vcvtq_f32_s32(offsets), -(dx * dmw));
        }
    }
    MOE_NEON_UNROLL
    for (int t = 0; t < Tokens; ++t) out[t * out_stride] = q8_tree_sum8(lo[t], hi[t]) + tree_sum4(min[t]);
}

// 32 · (sc[2l] · bsums[2l] + sc[2l + 1] · bsums[2l + 1]) for the 4 lanes of sixteens 8h … 8h + 7.
inline int32x4_t k6_offsets(int16x8_t scales, const std::int16_t* bsums) {
    const int16x8_t s = vld1q_s16(bsums);
    return vshlq_n_s32(vpaddq_s32(vmull_s16(vget_low_s16(scales), vget_low_s16(s)), vmull_high_s16(scales, s)), 5);
}

// q6_k: one row × Tokens tokens.
template <int Tokens>
void k6_row(const q8_k_tokens& x, std::int64_t t0, const q6_k_block* w, std::int64_t blocks, float* out,
            std::int64_t out_stride) {
    float32x4_t lo[Tokens], hi[Tokens];
    const q8_k_block* xb[Tokens];
    MOE_NEON_UNROLL
    for (int t = 0; t < Tokens; ++t) lo[t] = hi[t] = vdupq_n_f32(0.0f), xb[t] = x.blocks_of(t0 + t);
    const uint8x16_t m4 = vdupq_n_u8(0xF), m3 = vdupq_n_u8(3), m12 = vdupq_n_u8(12), m48 = vdupq_n_u8(48),
                     m192 = vdupq_n_u8(0xC0);
    for (std::int64_t b = 0; b < blocks; ++b) {
        const q6_k_block& block = w[b];
        int32x4_t sum_lo[Tokens], sum_hi[Tokens];
        MOE_NEON_UNROLL
        for (int t = 0; t < Tokens; ++t) sum_lo[t] = sum_hi[t] = vdupq_n_s32(0);
        MOE_NEON_UNROLL
        for (int n = 0; n < 2; ++n) {  // weights 128n + 32m + i: ql[64n + 32(m & 1) + i], bits 2m, 2m + 1 of qh[32n + i]
            MOE_NEON_UNROLL
            for (int half = 0; half < 2; ++half) {  // i < 16, i ≥ 16
                const uint8x16_t l1 = vld1q_u8(block.ql + 64 * n + 16 * half);
                const uint8x16_t l2 = vld1q_u8(block.ql + 64 * n + 32 + 16 * half);
                const uint8x16_t h = vld1q_u8(block.qh + 32 * n + 16 * half);
                const uint8x16_t u[4] = {vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(h, m3), 4)),
                                         vorrq_u8(vandq_u8(l2, m4), vshlq_n_u8(vandq_u8(h, m12), 2)),
                                         vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(h, m48)),
                                         vorrq_u8(vshrq_n_u8(l2, 4), vshrq_n_u8(vandq_u8(h, m192), 2))};
                MOE_NEON_UNROLL
                for (int m = 0; m < 4; ++m) {
                    const int c = 4 * n + m;  // 32-weight group: sixteen 2c + half
                    const std::int32_t scale = block.scales[2 * c + half];
                    const int32x4_t zero = vdupq_n_s32(0);
                    MOE_NEON_UNROLL
                    for (int t = 0; t < Tokens; ++t) {
                        const int8x16_t xv = vld1q_s8(xb[t][b].qs + 32 * c + 16 * half);
                        const int32x4_t dot = vdotq_s32(zero, vreinterpretq_s8_u8(u[m]), xv);
                        if (half == 0) sum_lo[t] = vmlaq_n_s32(sum_lo[t], dot, scale);
                        else sum_hi[t] = vmlaq_n_s32(sum_hi[t], dot, scale);
                    }
                }
            }
        }
        const int8x16_t scales8 = vld1q_s8(block.scales);
        const int16x8_t scales_lo = vmovl_s8(vget_low_s8(scales8)), scales_hi = vmovl_high_s8(scales8);
        const float dw = fp16_value(block.d);
        MOE_NEON_UNROLL
        for (int t = 0; t < Tokens; ++t) {
            const float d = xb[t][b].d * dw;
            const int32x4_t off_lo = k6_offsets(scales_lo, xb[t][b].bsums);
            const int32x4_t off_hi = k6_offsets(scales_hi, xb[t][b].bsums + 8);
            lo[t] = vfmaq_n_f32(lo[t], vcvtq_f32_s32(vsubq_s32(sum_lo[t], off_lo)), d);
            hi[t] = vfmaq_n_f32(hi[t], vcvtq_f32_s32(vsubq_s32(sum_hi[t], off_hi)), d);
        }
    }
    MOE_NEON_UNROLL
    for (int t = 0; t < Tokens; ++t) out[t * out_stride] = q8_tree_sum8(lo[t], hi[t]);
}

}  // namespace detail

// One row × Tokens tokens of kquant_dot_product_block: out[t · out_stride] for t < Tokens.
template <class Block, int Tokens>
void kquant_dot_row(const q8_k_tokens& x, std::int64_t t0, const Block* w, std::int64_t blocks, float* out,
                    std::int64_t out_stride) {
    if constexpr (std::is_same_v<Block, q6_k_block>) detail::k6_row<Tokens>(x, t0, w, blocks, out, out_stride);
    else detail::k4_row<Block, Tokens>(x, t0, w, blocks, out, out_stride);
}

}  // namespace moe::cpu::kernels::neon

#endif
