// moe/precision/half_types.hpp — bfloat16 and float16 storage types for the host (and, later, the device).
//
// Both are 16-bit storage types only: arithmetic always happens in fp32 (convert, compute, convert back).
// They are bit-compatible with CUDA's __nv_bfloat16 and __half, so weights can be uploaded without conversion.
// Conversions round to nearest, ties to even, exactly as torch's `.to(torch.bfloat16)` / `.to(torch.float16)`;
// NaN stays NaN (quiet), infinities and signed zeros are preserved, fp16 subnormals are produced and read correctly.
#pragma once

#include <bit>
#include <cstdint>

#include "moe/macros.hpp"

namespace moe {

// Brain float: 1 sign bit, 8 exponent bits, 7 mantissa bits — the top half of an IEEE fp32.
struct bfloat16 {
    std::uint16_t bits = 0;

    bfloat16() = default;
    MOE_HOST_DEVICE explicit bfloat16(float value) : bits(from_float(value)) {}
    MOE_HOST_DEVICE explicit operator float() const { return to_float(bits); }

    static constexpr bfloat16 from_bits(std::uint16_t raw) {
        bfloat16 b;
        b.bits = raw;
        return b;
    }

    MOE_HOST_DEVICE static constexpr float to_float(std::uint16_t raw) {
        return std::bit_cast<float>(static_cast<std::uint32_t>(raw) << 16);
    }

    MOE_HOST_DEVICE static constexpr std::uint16_t from_float(float value) {
        const std::uint32_t u = std::bit_cast<std::uint32_t>(value);
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // NaN: keep sign and payload top, force quiet
        }
        // Round to nearest even: add 0x7fff plus the lowest kept bit, then truncate.
        const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
        return static_cast<std::uint16_t>((u + rounding) >> 16);
    }
};

// IEEE 754 binary16: 1 sign bit, 5 exponent bits, 10 mantissa bits.
struct float16 {
    std::uint16_t bits = 0;

    float16() = default;
    MOE_HOST_DEVICE explicit float16(float value) : bits(from_float(value)) {}
    MOE_HOST_DEVICE explicit operator float() const { return to_float(bits); }

    static constexpr float16 from_bits(std::uint16_t raw) {
        float16 h;
        h.bits = raw;
        return h;
    }

    MOE_HOST_DEVICE static constexpr float to_float(std::uint16_t raw) {
        const std::uint32_t sign = static_cast<std::uint32_t>(raw & 0x8000u) << 16;
        const std::uint32_t exponent = (raw >> 10) & 0x1fu;
        std::uint32_t mantissa = raw & 0x3ffu;
        if (exponent == 0x1fu) {  // inf or NaN
            return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13) | (mantissa ? 0x00400000u : 0u));
        }
        if (exponent == 0) {
            if (mantissa == 0) return std::bit_cast<float>(sign);  // signed zero
            // Subnormal half: value = mantissa · 2^-24, exactly representable in fp32.
            int shift = 0;
            while ((mantissa & 0x400u) == 0) {
                mantissa <<= 1;
                ++shift;
            }
            mantissa &= 0x3ffu;
            const std::uint32_t fexp = static_cast<std::uint32_t>(127 - 15 + 1 - shift);
            return std::bit_cast<float>(sign | (fexp << 23) | (mantissa << 13));
        }
        return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
    }

    MOE_HOST_DEVICE static constexpr std::uint16_t from_float(float value) {
        const std::uint32_t u = std::bit_cast<std::uint32_t>(value);
        const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
        const std::uint32_t abs = u & 0x7fffffffu;
        if (abs > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // NaN
        if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to ±inf (≥ 65520)
        if (abs < 0x38800000u) {
            // Result is subnormal (or zero): value / 2^-24, rounded to nearest even.
            if (abs < 0x33000000u) return sign;  // below half the smallest subnormal: ±0
            const std::uint32_t exponent = abs >> 23;
            const std::uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
            const std::uint32_t shift = 126u - exponent;  // value / 2^-24 = mantissa · 2^(exponent - 126)
            const std::uint32_t kept = mantissa >> shift;
            const std::uint32_t rest = mantissa & ((1u << shift) - 1u);
            const std::uint32_t half = 1u << (shift - 1u);
            const std::uint32_t rounded = kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
            return static_cast<std::uint16_t>(sign | rounded);
        }
        // Normal: rebias exponent, round the 13 dropped mantissa bits to nearest even.
        const std::uint32_t rebased = abs - ((127u - 15u) << 23);
        const std::uint32_t rounding = 0xfffu + ((rebased >> 13) & 1u);
        return static_cast<std::uint16_t>(sign | ((rebased + rounding) >> 13));
    }
};

// bf16 weights of weight_format::bf16_compute: the same bits as bfloat16 (so a BF16 checkpoint tensor is used in
// place), a distinct type so the CPU kernels multiply them bf16 × bf16 — activations rounded to bf16 at each
// product's input, fp32 accumulation (see precision/formats/half.hpp).
struct bfloat16_compute : bfloat16 {
    bfloat16_compute() = default;
    MOE_HOST_DEVICE explicit bfloat16_compute(float value) : bfloat16(value) {}
};

static_assert(sizeof(bfloat16) == 2 && sizeof(float16) == 2 && sizeof(bfloat16_compute) == 2,
              "16-bit storage types must stay 2 bytes");

MOE_HOST_DEVICE inline float to_float(float v) { return v; }
MOE_HOST_DEVICE inline float to_float(bfloat16 v) { return bfloat16::to_float(v.bits); }
MOE_HOST_DEVICE inline float to_float(float16 v) { return float16::to_float(v.bits); }

}  // namespace moe
