// moe/cpu/kernels/avx2/fp8_decode.hpp — fp8 e4m3fn codes → fp32 in 256-bit registers (AVX2 + FMA + F16C,
// x86-64-v3), for the fp8_e4m3 decode and GEMM tiles (fp8_dot_tiles.hpp, fp8_gemm_tiles.hpp).
//
// e4m3 is fp16 with a narrower exponent: a code's bits placed as an fp16's (sign at bit 15, the 4 exponent bits at
// 13–10, the 3 mantissa bits at 9–7) are the fp16 value decode(q) · 2^-8, exactly — normal codes as fp16 normals
// (exponent e, bias 15 instead of 7), the subnormal codes m · 2^-9 as the fp16 subnormals m · 2^-17. F16C's
// vcvtph2ps widens them to fp32 exactly: fp16 subnormals are fp32 normals, so no fp32 denormal is ever an operand
// and no DAZ/FTZ mode changes a bit (the conversion ignores denormals-are-zero; tests/precision/test_fp8_e4m3.cpp
// runs the kernels with DAZ and FTZ set). Placing: sign-extend the byte to 16 bits, shift left by 7 (the sign
// lands in bits 15 and 14), clear bit 14 — 3 instructions per 8 codes, then one conversion.
//   decode16_scaled*: decode(q) · 2^-8, what the decode tiles multiply (their block scales carry the 2^8);
//   decode16: decode(q), one multiply by 2^8 more (exact), for the GEMM tiles' decoded block.
// (An fp32 placement rebiased by multiplying with 2^120 reads the subnormal codes as fp32 denormals: ~1.9× slower
// on AMD Zen where they occur, and wrong under DAZ.)
// NaN codes (0x7F, 0xFF) would come out as ±1.875 · 2^0: the plain decoders turn them into a quiet NaN with the
// code's sign (fp16 0x7E00, widened to fp32 0x7FC00000: fp8_e4m3_values' bits; 4 instructions per 8 codes);
// decode16_scaled_finite does not, for blocks that block_has_nan has cleared (9 instructions per 128 codes).
#pragma once

#include "moe/cpu/kernels/avx2/f32_dot_tiles.hpp"  // MOE_HAVE_AVX2_TILES

#if defined(MOE_HAVE_AVX2_TILES)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace moe::cpu::kernels::avx2 {

struct fp8_lanes16 {
    __m256 lo, hi;  // codes 0–7, 8–15
};

namespace fp8_detail {

// q: 8 codes → the 8 sign-extended codes shifted left by 7 (sign in bits 15 and 14, exponent and mantissa in 13–7).
// 128-bit steps: on AMD Zen 2 the 256-bit sign extension and extract are lane-crossing and measured ~10% slower.
inline __m128i shifted_codes(const std::uint8_t* q) {
    std::int64_t raw;
    std::memcpy(&raw, q, sizeof(raw));
    return _mm_slli_epi16(_mm_cvtepi8_epi16(_mm_cvtsi64_si128(raw)), 7);
}
// → fp16 bits sign | e << 10 | m << 7
inline __m128i fp16_bits(__m128i shifted) { return _mm_and_si128(shifted, _mm_set1_epi16(static_cast<short>(0xBF80))); }
// NaN codes (shifted: bits 13–7 all set) → fp16 quiet NaN sign | 0x7E00
inline __m128i fp16_bits_with_nan(__m128i shifted) {
    const __m128i nan = _mm_cmpeq_epi16(_mm_or_si128(shifted, _mm_set1_epi16(static_cast<short>(0xC07F))),
                                        _mm_set1_epi16(-1));
    return _mm_xor_si128(fp16_bits(shifted), _mm_and_si128(nan, _mm_set1_epi16(0x3F80 ^ 0x7E00)));
}

}  // namespace fp8_detail

// q: 16 codes, none a NaN code → decode(q) · 2^-8.
inline fp8_lanes16 decode16_scaled_finite(const std::uint8_t* q) {
    return {_mm256_cvtph_ps(fp8_detail::fp16_bits(fp8_detail::shifted_codes(q))),
            _mm256_cvtph_ps(fp8_detail::fp16_bits(fp8_detail::shifted_codes(q + 8)))};
}

// q: 16 codes → decode(q) · 2^-8, NaN codes as NaN.
inline fp8_lanes16 decode16_scaled(const std::uint8_t* q) {
    return {_mm256_cvtph_ps(fp8_detail::fp16_bits_with_nan(fp8_detail::shifted_codes(q))),
            _mm256_cvtph_ps(fp8_detail::fp16_bits_with_nan(fp8_detail::shifted_codes(q + 8)))};
}

// q: 16 codes → decode(q), fp8_e4m3_values' bits.
inline fp8_lanes16 decode16(const std::uint8_t* q) {
    const fp8_lanes16 v = decode16_scaled(q);
    const __m256 rebias = _mm256_set1_ps(256.0f);
    return {_mm256_mul_ps(v.lo, rebias), _mm256_mul_ps(v.hi, rebias)};
}

// q: 128 codes → whether any is a NaN code (0x7F or 0xFF).
inline bool block_has_nan(const std::uint8_t* q) {
    const __m256i magnitude = _mm256_set1_epi8(0x7F);
    __m256i most = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i)
        most = _mm256_max_epu8(most, _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * i)),
                                                      magnitude));
    return _mm256_movemask_epi8(_mm256_cmpeq_epi8(most, magnitude)) != 0;
}

}  // namespace moe::cpu::kernels::avx2
#endif
