// moe/cpu/kernels/neon/fp8_decode.hpp — fp8 e4m3fn codes → fp32 in NEON registers (AArch64), for the fp8_e4m3
// decode and GEMM tiles (fp8_dot_tiles.hpp, fp8_gemm_tiles.hpp).
//
// The same steps as avx2/fp8_decode.hpp (see there): a code's bits placed as an fp16's are decode(q) · 2^-8
// exactly — sign-extend to 16 bits (sxtl), shift left by 7, clear bit 14 — and fcvtl widens the fp16 values to
// fp32 exactly, subnormals included (the conversion does not flush: FPCR.FZ16 applies to half-precision
// arithmetic, not to conversions, and the result is an fp32 normal). NaN codes get the fp16 quiet NaN sign | 0x7E00
// in the plain decoders, and block_has_nan lets the decode tiles skip that fix-up (umaxv over a block).
#pragma once

#include "moe/cpu/kernels/neon/f32_tiles.hpp"  // MOE_HAVE_NEON_TILES, wide16

#if defined(MOE_HAVE_NEON_TILES)
#include <arm_neon.h>

#include <cstdint>

namespace moe::cpu::kernels::neon {

namespace fp8_detail {

// 8 sign-extended codes shifted left by 7 → fp16 bits sign | e << 10 | m << 7, NaN codes as sign | 0x7E00 if Nan
template <bool Nan>
inline float32x4x2_t widen8(int16x8_t sign_extended) {
    const uint16x8_t shifted = vreinterpretq_u16_s16(vshlq_n_s16(sign_extended, 7));
    uint16x8_t bits = vandq_u16(shifted, vdupq_n_u16(0xBF80));
    if constexpr (Nan) {
        const uint16x8_t nan = vceqq_u16(vorrq_u16(shifted, vdupq_n_u16(0xC07F)), vdupq_n_u16(0xFFFF));
        bits = veorq_u16(bits, vandq_u16(nan, vdupq_n_u16(0x3F80 ^ 0x7E00)));
    }
    const float16x8_t h = vreinterpretq_f16_u16(bits);
    return {{vcvt_f32_f16(vget_low_f16(h)), vcvt_high_f32_f16(h)}};
}

template <bool Nan>
inline wide16 decode16_scaled(const std::uint8_t* q) {
    const int8x16_t codes = vreinterpretq_s8_u8(vld1q_u8(q));
    const float32x4x2_t lo = widen8<Nan>(vmovl_s8(vget_low_s8(codes))), hi = widen8<Nan>(vmovl_high_s8(codes));
    return {{lo.val[0], lo.val[1], hi.val[0], hi.val[1]}};
}

}  // namespace fp8_detail

// q: 16 codes, none a NaN code → decode(q) · 2^-8.
inline wide16 fp8_decode16_scaled_finite(const std::uint8_t* q) { return fp8_detail::decode16_scaled<false>(q); }

// q: 16 codes → decode(q) · 2^-8, NaN codes as NaN.
inline wide16 fp8_decode16_scaled(const std::uint8_t* q) { return fp8_detail::decode16_scaled<true>(q); }

// q: 16 codes → decode(q), fp8_e4m3_values' bits (times 2^8: exact; a quiet NaN keeps its bits).
inline wide16 fp8_decode16(const std::uint8_t* q) {
    wide16 v = fp8_detail::decode16_scaled<true>(q);
    for (auto& part : v.v) part = vmulq_n_f32(part, 256.0f);
    return v;
}

// q: 128 codes → whether any is a NaN code (0x7F or 0xFF).
inline bool fp8_block_has_nan(const std::uint8_t* q) {
    uint8x16_t most = vdupq_n_u8(0);
    for (int i = 0; i < 8; ++i) most = vmaxq_u8(most, vandq_u8(vld1q_u8(q + 16 * i), vdupq_n_u8(0x7F)));
    return vmaxvq_u8(most) == 0x7F;
}

}  // namespace moe::cpu::kernels::neon
#endif
