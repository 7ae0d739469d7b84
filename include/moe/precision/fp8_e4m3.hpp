// moe/precision/fp8_e4m3.hpp — 8-bit e4m3fn floats (DeepSeek-V3/R1's weights) and the block that stores them.
//
// e4m3fn ("fn": finite, no infinities): 1 sign bit, 4 exponent bits with bias 7, 3 mantissa bits. Exponent 0 holds
// the subnormals m · 2^-9; 0x7F and 0xFF are NaN; the largest value is 448 (0x7E). Every code converts to fp32
// exactly (fp8_e4m3_to_float). fp8_e4m3_from_float rounds to nearest, ties to even, as torch's
// `.to(torch.float8_e4m3fn)` does (torch 2.15, CPU): |x| ≥ 448 and ±inf saturate to ±448, NaN gives 0x7F with x's
// sign, values below half the smallest subnormal give ±0 (tests/data/fp8 holds torch's codes for ties, the
// saturation region and random floats; the test compares every one).
//
// fp8_e4m3_block is the storage of weight_format::fp8_e4m3: 128 consecutive weights of a row as e4m3 codes and the
// fp32 scale of their block; weight i is fp8_e4m3_to_float(q[i]) · scale (DeepSeek's weight_dequant: the fp8 value
// widened to fp32, times the scale, rounded once). A checkpoint's 128 × 128 block scale (`<name>_scale_inv`) is
// repeated in each of its 128 rows' blocks, so every row is self-contained (4 bytes per 128 weights, 3%).
//
// quantize_fp8_e4m3_row is DeepSeek-V3's act_quant rule (its inference kernels) applied per 128 weights of a row:
// scale = amax / 448, q = to_e4m3(x / scale) — a division, as act_quant writes it, not a multiply by 448 / amax
// (transformers' FP8 quantizer, which can round differently). An all-zero block (where act_quant divides 0 by 0)
// gets scale 0 and zero codes.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "moe/precision/weights_per_element.hpp"

namespace moe {

inline constexpr float fp8_e4m3_max = 448.0f;

// code → fp32, exactly (NaN codes give a quiet NaN with the code's sign).
constexpr float fp8_e4m3_to_float(std::uint8_t code) {
    const std::uint32_t magnitude_bits = code & 0x7Fu;
    float magnitude = 0.0f;
    if (magnitude_bits == 0x7Fu) magnitude = std::numeric_limits<float>::quiet_NaN();
    else if (magnitude_bits < 8u) magnitude = float(magnitude_bits) * (1.0f / 512.0f);  // subnormal m · 2^-9
    else magnitude = std::bit_cast<float>((magnitude_bits << 20) + (120u << 23));      // exponent 7 → 127 bias
    return (code & 0x80u) != 0 ? -magnitude : magnitude;
}

// fp32 → code, round to nearest even with saturation to ±448 (see the header comment).
constexpr std::uint8_t fp8_e4m3_from_float(float value) {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(value);
    const auto sign = static_cast<std::uint8_t>((u >> 24) & 0x80u);
    const std::uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return sign | 0x7Fu;  // NaN
    if (a >= 0x43E00000u) return sign | 0x7Eu;  // |x| ≥ 448, ±inf: saturate
    if (a < 0x3C800000u) {
        // |x| < 2^-6: code m = |x| · 2^9 rounded half to even (m = 8 is 2^-6, the smallest normal: code 0x08).
        const float scaled = std::bit_cast<float>(a) * 512.0f;  // exact: a power of two
        const auto whole = static_cast<std::uint32_t>(scaled);
        const float fraction = scaled - float(whole);  // exact
        const bool up = fraction > 0.5f || (fraction == 0.5f && (whole & 1u) != 0);
        return sign | static_cast<std::uint8_t>(whole + (up ? 1u : 0u));
    }
    // Normal: rebias the exponent (127 → 7) and round the 23 mantissa bits to 3, ties to even; a carry moves into
    // the exponent, and nothing below 448 rounds past it (0x7E).
    const std::uint32_t rebiased = a - (120u << 23);
    const std::uint32_t rounded = rebiased + 0x7FFFFu + ((rebiased >> 20) & 1u);
    return sign | static_cast<std::uint8_t>(rounded >> 20);
}

// All 256 codes decoded: what the portable kernels read (the SIMD ones compute the same bits, cpu/kernels/fp8_*).
inline constexpr std::array<float, 256> fp8_e4m3_values = [] {
    std::array<float, 256> values{};
    for (int c = 0; c < 256; ++c) values[static_cast<std::size_t>(c)] = fp8_e4m3_to_float(static_cast<std::uint8_t>(c));
    return values;
}();

inline constexpr std::int64_t fp8_block_size = 128;

struct fp8_e4m3_block {
    float scale;                       // the checkpoint's block scale (`_scale_inv`), or amax / 448
    std::uint8_t q[fp8_block_size];    // e4m3fn codes
};
static_assert(sizeof(fp8_e4m3_block) == 132 && alignof(fp8_e4m3_block) == 4, "fp8_e4m3_block: 4 + 128 bytes");

// Matrices of fp8_e4m3_block count their columns in weights (matrix_view.hpp): a row of K weights is K/128 blocks.
template <>
inline constexpr std::int64_t weights_per_element<fp8_e4m3_block> = fp8_block_size;

// x: (K) fp32, K a multiple of 128  →  out: (K/128) blocks, DeepSeek's rule (see the header comment).
inline void quantize_fp8_e4m3_row(const float* x, std::int64_t k, fp8_e4m3_block* out) {
    for (std::int64_t b = 0; b < k / fp8_block_size; ++b) {
        const float* v = x + b * fp8_block_size;
        float amax = 0.0f;
        for (std::int64_t i = 0; i < fp8_block_size; ++i) amax = std::max(amax, std::fabs(v[i]));
        const float scale = amax / fp8_e4m3_max;
        out[b].scale = scale;
        for (std::int64_t i = 0; i < fp8_block_size; ++i)
            out[b].q[i] = amax == 0.0f ? std::uint8_t{0} : fp8_e4m3_from_float(v[i] / scale);
    }
}

// blocks: (K/128)  →  out: (K) fp32, decode(q) · scale.
inline void dequantize_fp8_e4m3_row(const fp8_e4m3_block* blocks, std::int64_t k, float* out) {
    for (std::int64_t b = 0; b < k / fp8_block_size; ++b)
        for (std::int64_t i = 0; i < fp8_block_size; ++i)
            out[b * fp8_block_size + i] = fp8_e4m3_values[blocks[b].q[i]] * blocks[b].scale;
}

}  // namespace moe
