// Typed access that converts: BF16/F16/F64 → F32, F32 → BF16/F16 rounding, integer tensors, shape checks.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "moe/io.hpp"
#include "safetensors_writer.hpp"

namespace test_tensor_conversion {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe_test;
using Catch::Matchers::Contains;

namespace {

std::uint32_t bits_of(float value) { return std::bit_cast<std::uint32_t>(value); }
float float_of(std::uint32_t bits) { return std::bit_cast<float>(bits); }

}  // namespace

TEST_CASE("BF16 and F16 tensors convert to float exactly", "[io][convert]") {
    const std::vector<std::uint16_t> bf16 = {0x0000, 0x8000, 0x3f80, 0xc040, 0x7f80, 0xff80, 0x0001, 0x7f7f, 0x3e20};
    const std::vector<std::uint16_t> f16 = {0x0000, 0x8000, 0x3c00, 0xc200, 0x7c00, 0xfc00, 0x0001, 0x7bff, 0x03ff};
    temp_dir dir;
    const auto path = dir / "halves.safetensors";
    write_safetensors(path, {{"bf", "BF16", {3, 3}, bytes_of(bf16)}, {"h", "F16", {9}, bytes_of(f16)}});
    const moe::io::safetensors_file file(path);

    const auto from_bf16 = moe::io::copy_matrix<float>(file.require("bf"));
    REQUIRE(from_bf16.rows() == 3);
    REQUIRE(from_bf16.cols() == 3);
    for (std::size_t i = 0; i < bf16.size(); ++i) {
        // BF16 is the top half of an fp32: the bits must come back shifted, nothing else.
        CHECK(bits_of(from_bf16.data()[i]) == static_cast<std::uint32_t>(bf16[i]) << 16);
    }
    const auto from_f16 = moe::io::load_tensor<float>(file.require("h"));
    CHECK_FALSE(from_f16.in_place());
    const std::vector<float> expected = {0.0f, -0.0f, 1.0f, -3.0f, std::numeric_limits<float>::infinity(),
                                         -std::numeric_limits<float>::infinity(), std::ldexp(1.0f, -24), 65504.0f,
                                         std::ldexp(1023.0f, -24)};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        INFO(i);
        CHECK(bits_of(from_f16.data()[i]) == bits_of(expected[i]));
    }
}

TEST_CASE("F32 converts to BF16 and F16 rounding to nearest even, like the library's half types", "[io][convert]") {
    const std::vector<float> values = {
        1.0f,
        float_of(0x3f808000u),  // exactly halfway between two bf16 values, lower one even → rounds down
        float_of(0x3f818000u),  // halfway, upper one even → rounds up
        float_of(0x3f808001u),  // just above halfway → rounds up
        1.0f + std::ldexp(1.0f, -11),  // halfway for fp16 → even (1.0)
        1.0f + 3.0f * std::ldexp(1.0f, -11),  // halfway for fp16 → even (1 + 2^-9)
        65520.0f,                              // rounds to +inf in fp16
        -0.0f,
        std::ldexp(1.0f, -25) * 3.0f,  // fp16 subnormal rounding
        std::numeric_limits<float>::quiet_NaN(),
        std::numeric_limits<float>::infinity()};
    temp_dir dir;
    const auto path = dir / "round.safetensors";
    write_safetensors(path, {{"x", "F32", {static_cast<std::int64_t>(values.size())}, bytes_of(values)}});
    const moe::io::safetensors_file file(path);
    const auto x = file.require("x");

    const auto as_bf16 = moe::io::copy_matrix<moe::bfloat16>(x);
    const auto as_f16 = moe::io::load_tensor<moe::float16>(x);
    CHECK_FALSE(as_f16.in_place());
    for (std::size_t i = 0; i < values.size(); ++i) {
        INFO(i);
        CHECK(as_bf16.data()[i].bits == moe::bfloat16::from_float(values[i]));
        CHECK(as_f16.data()[i].bits == moe::float16::from_float(values[i]));
    }
    // Spot checks of the rounding itself, independent of half_types.
    CHECK(as_bf16.data()[0].bits == 0x3f80);
    CHECK(as_bf16.data()[1].bits == 0x3f80);
    CHECK(as_bf16.data()[2].bits == 0x3f82);
    CHECK(as_bf16.data()[3].bits == 0x3f81);
    CHECK(as_f16.data()[4].bits == 0x3c00);
    CHECK(as_f16.data()[5].bits == 0x3c02);
    CHECK(as_f16.data()[6].bits == 0x7c00);
    CHECK(as_bf16.data()[7].bits == 0x8000);
    CHECK(as_f16.data()[8].bits == 0x0002);  // 1.5 subnormal units → ties to even (2)
    CHECK(std::isnan(moe::to_float(as_bf16.data()[9])));
    CHECK(std::isnan(moe::to_float(as_f16.data()[9])));
    CHECK(as_bf16.data()[10].bits == 0x7f80);
}

TEST_CASE("half to half converts through float; same dtype copies bit for bit", "[io][convert]") {
    const std::vector<std::uint16_t> bf16 = {0x3f80, 0x4049, 0x7fc1, 0x0001};
    temp_dir dir;
    const auto path = dir / "h2h.safetensors";
    write_safetensors(path, {{"b", "BF16", {2, 2}, bytes_of(bf16)}});
    const moe::io::safetensors_file file(path);
    const auto b = file.require("b");
    const auto as_f16 = moe::io::copy_matrix<moe::float16>(b);
    for (std::size_t i = 0; i < bf16.size(); ++i) {
        CHECK(as_f16.data()[i].bits == moe::float16::from_float(moe::bfloat16::to_float(bf16[i])));
    }
    const auto copy = moe::io::copy_matrix<moe::bfloat16>(b);  // same dtype: copied, NaN payload kept
    for (std::size_t i = 0; i < bf16.size(); ++i) CHECK(copy.data()[i].bits == bf16[i]);
    CHECK(reinterpret_cast<const std::byte*>(copy.data()) != b.bytes.data());
}

TEST_CASE("F64 converts to float", "[io][convert]") {
    const std::vector<double> values = {1.0, -2.5, 0.1, 1e300};
    temp_dir dir;
    const auto path = dir / "f64.safetensors";
    write_safetensors(path, {{"d", "F64", {4}, bytes_of(values)}});
    const moe::io::safetensors_file file(path);
    const auto as_float = moe::io::copy_matrix<float>(file.require("d"));
    CHECK(as_float(0, 0) == 1.0f);
    CHECK(as_float(0, 1) == -2.5f);
    CHECK(as_float(0, 2) == static_cast<float>(0.1));
    CHECK(std::isinf(as_float(0, 3)));
}

TEST_CASE("copy_into checks the destination size and the dtype", "[io][convert]") {
    temp_dir dir;
    const auto path = dir / "into.safetensors";
    write_safetensors(path, {{"w", "BF16", {2}, bytes_of(std::vector<std::uint16_t>{0x3f80, 0x4000})},
                             {"ids", "I32", {2}, bytes_of(std::vector<std::int32_t>{1, 2})}});
    const moe::io::safetensors_file file(path);
    std::vector<float> out(2);
    moe::io::copy_into<float>(file.require("w"), out);
    CHECK(out == std::vector<float>{1.0f, 2.0f});
    std::vector<float> wrong(3);
    REQUIRE_THROWS_WITH(moe::io::copy_into<float>(file.require("w"), wrong),
                        Contains("into.safetensors") && Contains("tensor 'w'") &&
                            Contains("has 2 elements, the destination holds 3"));
    REQUIRE_THROWS_WITH(moe::io::copy_matrix<float>(file.require("ids")),
                        Contains("into.safetensors") && Contains("tensor 'ids'") &&
                            Contains("is I32, expected a floating-point tensor"));
    REQUIRE_THROWS_WITH(moe::io::load_tensor<moe::bfloat16>(file.require("ids")), Contains("expected a floating-point"));
}

TEST_CASE("integer tensors read into int64 (expert ids)", "[io][convert]") {
    temp_dir dir;
    const auto path = dir / "ints.safetensors";
    write_safetensors(path,
                      {{"i64", "I64", {3}, bytes_of(std::vector<std::int64_t>{-5, 0, std::numeric_limits<std::int64_t>::max()})},
                       {"i32", "I32", {2, 2}, bytes_of(std::vector<std::int32_t>{0, 3, -7, 1 << 30})},
                       {"i16", "I16", {2}, bytes_of(std::vector<std::int16_t>{-300, 300})},
                       {"i8", "I8", {2}, bytes_of(std::vector<std::int8_t>{-128, 127})},
                       {"u8", "U8", {2}, bytes_of(std::vector<std::uint8_t>{0, 255})},
                       {"u16", "U16", {1}, bytes_of(std::vector<std::uint16_t>{65535})},
                       {"u32", "U32", {1}, bytes_of(std::vector<std::uint32_t>{4000000000u})},
                       {"u64", "U64", {1}, bytes_of(std::vector<std::uint64_t>{123})},
                       {"u64big", "U64", {2}, bytes_of(std::vector<std::uint64_t>{1, 1ull << 63})},
                       {"mask", "BOOL", {3}, bytes_of(std::vector<std::uint8_t>{1, 0, 1})},
                       {"empty", "I32", {0}, {}},
                       {"f", "F32", {1}, bytes_of(std::vector<float>{1.0f})}});
    const moe::io::safetensors_file file(path);
    using v = std::vector<std::int64_t>;
    CHECK(moe::io::read_integers(file.require("i64")) == v{-5, 0, std::numeric_limits<std::int64_t>::max()});
    CHECK(moe::io::read_integers(file.require("i32")) == v{0, 3, -7, 1 << 30});
    CHECK(moe::io::read_integers(file.require("i16")) == v{-300, 300});
    CHECK(moe::io::read_integers(file.require("i8")) == v{-128, 127});
    CHECK(moe::io::read_integers(file.require("u8")) == v{0, 255});
    CHECK(moe::io::read_integers(file.require("u16")) == v{65535});
    CHECK(moe::io::read_integers(file.require("u32")) == v{4000000000});
    CHECK(moe::io::read_integers(file.require("u64")) == v{123});
    CHECK(moe::io::read_integers(file.require("mask")) == v{1, 0, 1});
    CHECK(moe::io::read_integers(file.require("empty")).empty());
    REQUIRE_THROWS_WITH(moe::io::read_integers(file.require("u64big")),
                        Contains("ints.safetensors") && Contains("tensor 'u64big'") &&
                            Contains("element 1 = 9223372036854775808 does not fit in int64"));
    REQUIRE_THROWS_WITH(moe::io::read_integers(file.require("f")),
                        Contains("ints.safetensors") && Contains("tensor 'f'") &&
                            Contains("is F32, expected an integer tensor"));
}

TEST_CASE("shape checks name the tensor, the file, the actual and the expected shape", "[io][convert]") {
    temp_dir dir;
    const auto path = dir / "shape.safetensors";
    write_safetensors(path, {{"gate", "F32", {4, 8}, std::vector<std::byte>(4 * 8 * 4)},
                             {"bias", "BF16", {8}, std::vector<std::byte>(16)},
                             {"fused", "F32", {2, 3, 4}, std::vector<std::byte>(2 * 3 * 4 * 4)}});
    const moe::io::safetensors_file file(path);
    const auto gate = file.require("gate");
    moe::io::expect_shape(gate, {4, 8});
    moe::io::expect_matrix_shape(gate, 4, 8);
    REQUIRE_THROWS_WITH(moe::io::expect_matrix_shape(gate, 8, 4),
                        Catch::Matchers::Equals(path.string() + ": tensor 'gate': has shape (4, 8), expected (8, 4)"));
    REQUIRE_THROWS_WITH(moe::io::expect_shape(gate, {4, 8, 1}), Contains("has shape (4, 8), expected (4, 8, 1)"));
    REQUIRE_THROWS_WITH(moe::io::expect_shape(file.require("fused"), {2, 4, 3}),
                        Contains("tensor 'fused'") && Contains("has shape (2, 3, 4), expected (2, 4, 3)"));

    // A 1-D tensor matches (1, n) as a matrix, but not as an exact shape.
    const auto bias = file.require("bias");
    moe::io::expect_matrix_shape(bias, 1, 8);
    REQUIRE_THROWS_WITH(moe::io::expect_shape(bias, {1, 8}), Contains("has shape (8), expected (1, 8)"));
    REQUIRE_THROWS_WITH(moe::io::expect_matrix_shape(bias, 2, 4), Contains("has shape (8), expected (2, 4)"));

    const auto loaded = moe::io::load_matrix<moe::bfloat16>(bias, 1, 8);
    CHECK(loaded.in_place());
    CHECK(loaded.matrix().rows == 1);
    CHECK(loaded.matrix().cols == 8);
    const auto converted = moe::io::load_matrix<float>(gate, 4, 8);
    CHECK(converted.in_place());
    REQUIRE_THROWS_WITH(moe::io::load_matrix<float>(gate, 4, 7),
                        Contains("shape.safetensors") && Contains("tensor 'gate'") &&
                            Contains("has shape (4, 8), expected (4, 7)"));
}

}  // namespace test_tensor_conversion
