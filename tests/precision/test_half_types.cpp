// Checks bfloat16 / float16 conversions bit for bit against independent references:
// an exact double-precision round-to-nearest-even written here, and the compiler's _Float16 where it exists.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "moe/precision/half_types.hpp"

namespace test_half_types {  // the file's own namespace: a test group is one translation unit (moe_test_group)

// The compiler's own float → IEEE binary16 conversion (round to nearest even), where it has one: _Float16, or on ARM
// with g++ < 13 (no _Float16 in C++ there) __fp16, which is IEEE binary16 on AArch64.
#if defined(__FLT16_MAX__) && (!defined(__aarch64__) || defined(__clang__) || __GNUC__ >= 13)
#define MOE_TEST_NATIVE_HALF 1
using native_half = _Float16;
#elif defined(__aarch64__)
#define MOE_TEST_NATIVE_HALF 1
using native_half = __fp16;
#endif

namespace {

float from_bits(std::uint32_t u) { return std::bit_cast<float>(u); }

// Rounds x to the nearest value in `candidates` (lo, hi neighbours), ties to the one with an even code.
template <class Decode>
std::uint16_t nearest_even(double x, std::uint16_t lo, std::uint16_t hi, Decode decode) {
    const double dlo = std::abs(x - decode(lo));
    const double dhi = std::abs(decode(hi) - x);
    if (dlo < dhi) return lo;
    if (dhi < dlo) return hi;
    return (lo & 1u) ? hi : lo;
}

// Independent bf16 reference: bf16 values are fp32 values with the low 16 bits zero.
std::uint16_t reference_bf16(float f) {
    if (std::isnan(f)) return 0x7fc0;
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    const std::uint16_t truncated = static_cast<std::uint16_t>(u >> 16);
    if ((u & 0xffffu) == 0) return truncated;
    const std::uint16_t next = static_cast<std::uint16_t>(truncated + 1);  // away from zero in magnitude
    auto decode = [](std::uint16_t b) { return static_cast<double>(from_bits(static_cast<std::uint32_t>(b) << 16)); };
    if (std::isinf(decode(next))) {
        // Beyond the largest finite bf16: round to inf when at or past the midpoint to the next power.
        const double max_finite = std::abs(decode(truncated));
        const double ulp = max_finite - std::abs(decode(static_cast<std::uint16_t>(truncated - 1)));
        return std::abs(static_cast<double>(f)) >= max_finite + ulp / 2 ? next : truncated;
    }
    return nearest_even(static_cast<double>(f), truncated, next, decode);
}

// Independent fp16 decode: sign · mantissa · 2^exponent computed with ldexp.
double reference_fp16_value(std::uint16_t h) {
    const int sign = (h & 0x8000) ? -1 : 1;
    const int exponent = (h >> 10) & 0x1f;
    const int mantissa = h & 0x3ff;
    if (exponent == 0x1f) return mantissa ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
    if (exponent == 0) return sign * std::ldexp(mantissa, -24);
    return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

// Independent fp16 encode: scan-free nearest-even using the decoded neighbours.
std::uint16_t reference_fp16(float f) {
    if (std::isnan(f)) return 0x7e00;
    const double x = static_cast<double>(f);
    const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    const double a = std::abs(x);
    if (a >= 65520.0) return sign | 0x7c00;
    // Magnitude code below: largest code whose value <= a (codes are monotonic in magnitude).
    std::uint16_t lo = 0;
    for (int bit = 14; bit >= 0; --bit) {
        const std::uint16_t trial = static_cast<std::uint16_t>(lo | (1u << bit));
        if (trial < 0x7c00 && reference_fp16_value(trial) <= a) lo = trial;
    }
    if (reference_fp16_value(lo) == a) return sign | lo;
    const std::uint16_t hi = static_cast<std::uint16_t>(lo + 1);
    const double dlo = a - reference_fp16_value(lo);
    const double dhi = reference_fp16_value(hi) - a;
    const std::uint16_t pick = dlo < dhi ? lo : (dhi < dlo ? hi : ((lo & 1u) ? hi : lo));
    return sign | pick;
}

}  // namespace

TEST_CASE("bfloat16 decodes every code to the fp32 with the same top bits and re-encodes it unchanged", "[precision]") {
    for (std::uint32_t code = 0; code <= 0xffff; ++code) {
        const float f = moe::bfloat16::to_float(static_cast<std::uint16_t>(code));
        REQUIRE(std::bit_cast<std::uint32_t>(f) == code << 16);
        if (!std::isnan(f)) REQUIRE(moe::bfloat16::from_float(f) == code);
        else REQUIRE(std::isnan(moe::bfloat16::to_float(moe::bfloat16::from_float(f))));
    }
}

TEST_CASE("bfloat16 rounds fp32 to nearest, ties to even, like torch", "[precision]") {
    CHECK(moe::bfloat16::from_float(1.0f + 0x1p-8f) == 0x3f80);         // tie between 1 and 1+2^-7: even (1)
    CHECK(moe::bfloat16::from_float(1.0f + 3 * 0x1p-8f) == 0x3f82);     // tie: rounds up to even
    CHECK(moe::bfloat16::from_float(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);  // just above the tie
    CHECK(moe::bfloat16::from_float(std::numeric_limits<float>::max()) == 0x7f80);  // overflows to +inf
    CHECK(moe::bfloat16::from_float(-0.0f) == 0x8000);
    std::mt19937 rng(7);
    for (int i = 0; i < 2'000'000; ++i) {
        const float f = from_bits(rng());
        const std::uint16_t got = moe::bfloat16::from_float(f);
        if (std::isnan(f)) {
            REQUIRE(std::isnan(moe::bfloat16::to_float(got)));
            continue;
        }
        REQUIRE(got == reference_bf16(f));
    }
}

TEST_CASE("float16 decodes every code exactly", "[precision]") {
    for (std::uint32_t code = 0; code <= 0xffff; ++code) {
        const double expected = reference_fp16_value(static_cast<std::uint16_t>(code));
        const float got = moe::float16::to_float(static_cast<std::uint16_t>(code));
        if (std::isnan(expected)) {
            REQUIRE(std::isnan(got));
        } else {
            REQUIRE(static_cast<double>(got) == expected);
            REQUIRE(std::signbit(got) == bool(code & 0x8000));
            REQUIRE(moe::float16::from_float(got) == code);
        }
    }
}

TEST_CASE("float16 rounds fp32 to nearest, ties to even, including subnormals and overflow", "[precision]") {
    CHECK(moe::float16::from_float(65504.0f) == 0x7bff);
    CHECK(moe::float16::from_float(65519.99f) == 0x7bff);
    CHECK(moe::float16::from_float(65520.0f) == 0x7c00);  // tie at the top rounds to inf
    CHECK(moe::float16::from_float(0x1p-24f) == 0x0001);  // smallest subnormal
    CHECK(moe::float16::from_float(0x1p-25f) == 0x0000);  // tie with 0: even
    CHECK(moe::float16::from_float(0x1.8p-25f) == 0x0001);
    std::mt19937 rng(11);
    std::uniform_int_distribution<std::uint32_t> exponent(100, 145);  // concentrate where fp16 is finite
    for (int i = 0; i < 300'000; ++i) {
        std::uint32_t u = rng();
        if (i % 2 == 0) u = (u & 0x807fffffu) | (exponent(rng) << 23);
        const float f = from_bits(u);
        const std::uint16_t got = moe::float16::from_float(f);
        if (std::isnan(f)) {
            REQUIRE(std::isnan(moe::float16::to_float(got)));
            continue;
        }
        REQUIRE(got == reference_fp16(f));
#if defined(MOE_TEST_NATIVE_HALF)
        const native_half native = static_cast<native_half>(f);
        REQUIRE(got == std::bit_cast<std::uint16_t>(native));
#endif
    }
}

}  // namespace test_half_types
