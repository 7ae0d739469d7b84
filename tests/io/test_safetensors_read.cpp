// Reading valid safetensors files: layout, values, dtypes, metadata, in-place access and its alignment fallback.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "moe/io.hpp"
#include "safetensors_writer.hpp"

namespace test_safetensors_read {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe_test;
using Catch::Matchers::Contains;

namespace {

std::vector<float> iota_floats(std::size_t n, float start = 0.0f) {
    std::vector<float> values(n);
    for (std::size_t i = 0; i < n; ++i) values[i] = start + 0.5f * static_cast<float>(i);
    return values;
}

}  // namespace

TEST_CASE("a valid file lists its tensors with dtype, shape and byte range", "[io][safetensors]") {
    temp_dir dir;
    const auto path = dir / "model.safetensors";
    write_safetensors(path, {{"b.weight", "F32", {2, 3}, bytes_of(iota_floats(6))},
                             {"a.bias", "BF16", {4}, bytes_of(std::vector<std::uint16_t>{1, 2, 3, 4})},
                             {"c.ids", "I64", {3}, bytes_of(std::vector<std::int64_t>{7, -1, 3})}});
    const moe::io::safetensors_file file(path);
    REQUIRE(file.path() == path.string());
    const auto& tensors = file.tensors();
    REQUIRE(tensors.size() == 3);
    // Sorted by name, offsets as written (b first in the data section).
    CHECK(tensors[0].name == "a.bias");
    CHECK(tensors[0].dtype == moe::io::dtype::bf16);
    CHECK(tensors[0].shape == std::vector<std::int64_t>{4});
    CHECK(tensors[0].begin == 24);
    CHECK(tensors[0].end == 32);
    CHECK(tensors[1].name == "b.weight");
    CHECK(tensors[1].dtype == moe::io::dtype::f32);
    CHECK(tensors[1].shape == std::vector<std::int64_t>{2, 3});
    CHECK(tensors[1].begin == 0);
    CHECK(tensors[1].end == 24);
    CHECK(tensors[1].numel() == 6);
    CHECK(tensors[1].byte_size() == 24);
    CHECK(tensors[2].name == "c.ids");
    CHECK(tensors[2].dtype == moe::io::dtype::i64);
    CHECK(file.data().size() == 56);
    CHECK(file.metadata().empty());
}

TEST_CASE("find returns nullopt for an absent tensor and require names it and the file", "[io][safetensors]") {
    temp_dir dir;
    const auto path = dir / "lookup.safetensors";
    write_safetensors(path, {{"w", "F32", {1}, bytes_of(std::vector<float>{1.0f})}});
    const moe::io::safetensors_file file(path);
    CHECK(file.find("w").has_value());
    CHECK(file.contains("w"));
    CHECK_FALSE(file.find("nope").has_value());
    CHECK_FALSE(file.find("").has_value());
    CHECK_FALSE(file.contains("v"));
    REQUIRE_THROWS_AS(file.require("nope"), moe::io::checkpoint_error);
    REQUIRE_THROWS_WITH(file.require("nope"), Contains("lookup.safetensors") && Contains("missing tensor 'nope'"));
    CHECK(file.require("w").name() == "w");
}

TEST_CASE("a matching dtype is viewed in place: the pointer is the file mapping", "[io][safetensors]") {
    temp_dir dir;
    const auto path = dir / "inplace.safetensors";
    const auto values = iota_floats(12, -3.0f);
    write_safetensors(path, {{"x", "F32", {3, 4}, bytes_of(values)},
                             {"h", "F16", {2}, bytes_of(std::vector<std::uint16_t>{0x3c00, 0xc000})},
                             {"b", "BF16", {1, 2}, bytes_of(std::vector<std::uint16_t>{0x3f80, 0x4040})}});
    const moe::io::safetensors_file file(path);
    const auto x = file.require("x");
    const auto* expected = reinterpret_cast<const float*>(file.data().data() + x.info->begin);

    REQUIRE(moe::io::can_view_in_place<float>(x));
    const moe::matrix_view<const float> view = moe::io::view_matrix<float>(x);
    CHECK(view.data == expected);
    CHECK(view.rows == 3);
    CHECK(view.cols == 4);
    CHECK(view(2, 3) == values[11]);
    CHECK(view(1, 0) == values[4]);

    const auto loaded = moe::io::load_tensor<float>(x);
    CHECK(loaded.in_place());
    CHECK(loaded.data() == expected);
    CHECK(loaded.matrix().data == expected);

    const auto h = moe::io::view_matrix<moe::float16>(file.require("h"));
    CHECK(h.rows == 1);
    CHECK(h.cols == 2);
    CHECK(moe::to_float(h(0, 0)) == 1.0f);
    CHECK(moe::to_float(h(0, 1)) == -2.0f);
    const auto b = moe::io::view_matrix<moe::bfloat16>(file.require("b"));
    CHECK(moe::to_float(b(0, 0)) == 1.0f);
    CHECK(moe::to_float(b(0, 1)) == 3.0f);
    CHECK(reinterpret_cast<const std::byte*>(b.data) == file.require("b").bytes.data());

    // Asking for a different type is not in place; view_matrix refuses, load_tensor converts.
    CHECK_FALSE(moe::io::can_view_in_place<moe::bfloat16>(x));
    REQUIRE_THROWS_WITH(moe::io::view_matrix<moe::bfloat16>(x),
                        Contains("inplace.safetensors") && Contains("tensor 'x'") && Contains("F32") &&
                            Contains("cannot be viewed in place as BF16"));
    const auto converted = moe::io::load_tensor<moe::bfloat16>(x);
    CHECK_FALSE(converted.in_place());
    CHECK(moe::to_float(converted.matrix()(0, 1)) == -2.5f);
}

TEST_CASE("a misaligned tensor is copied instead of read through a misaligned pointer", "[io][safetensors]") {
    temp_dir dir;
    const auto path = dir / "odd.safetensors";
    const auto values = iota_floats(4, 1.0f);
    const std::vector<moe_test::tensor_spec> specs = {{"x", "F32", {2, 2}, bytes_of(values)}};
    // pad = 1: the header keeps its natural length, so pick one that leaves the data section at an odd address.
    std::string header = header_for(specs);
    if ((8 + header.size()) % 2 == 0) header += ' ';
    write_raw(path, header, data_for(specs), 1);
    const moe::io::safetensors_file file(path);
    const auto x = file.require("x");
    REQUIRE(reinterpret_cast<std::uintptr_t>(x.bytes.data()) % alignof(float) != 0);

    CHECK_FALSE(moe::io::can_view_in_place<float>(x));
    const auto loaded = moe::io::load_tensor<float>(x);
    CHECK_FALSE(loaded.in_place());
    CHECK(reinterpret_cast<std::uintptr_t>(loaded.data()) % alignof(float) == 0);
    CHECK(std::vector<float>(loaded.span().begin(), loaded.span().end()) == values);
    REQUIRE_THROWS_WITH(moe::io::view_matrix<float>(x),
                        Contains("odd.safetensors") && Contains("tensor 'x'") && Contains("not aligned"));
}

TEST_CASE("1-D tensors read as (1, n) matrices, scalars as (1, 1), empty tensors work", "[io][safetensors]") {
    temp_dir dir;
    const auto path = dir / "shapes.safetensors";
    write_safetensors(path, {{"vec", "F32", {5}, bytes_of(iota_floats(5))},
                             {"scalar", "F32", {}, bytes_of(std::vector<float>{42.0f})},
                             {"empty", "F32", {0, 7}, {}},
                             {"empty_vec", "BF16", {0}, {}}});
    const moe::io::safetensors_file file(path);
    const auto vec = moe::io::view_matrix<float>(file.require("vec"));
    CHECK(vec.rows == 1);
    CHECK(vec.cols == 5);
    CHECK(vec(0, 4) == 2.0f);
    const auto scalar = moe::io::copy_matrix<float>(file.require("scalar"));
    CHECK(scalar.rows() == 1);
    CHECK(scalar.cols() == 1);
    CHECK(scalar(0, 0) == 42.0f);
    CHECK(file.require("scalar").numel() == 1);

    const auto empty = moe::io::load_tensor<float>(file.require("empty"));
    CHECK(empty.numel() == 0);
    CHECK(empty.matrix().rows == 0);
    CHECK(empty.matrix().cols == 7);
    const auto empty_vec = moe::io::copy_matrix<float>(file.require("empty_vec"));
    CHECK(empty_vec.rows() == 1);
    CHECK(empty_vec.cols() == 0);
}

TEST_CASE("3-D fused expert tensors: shape, pointer and per-expert slices", "[io][safetensors]") {
    temp_dir dir;
    const auto path = dir / "fused.safetensors";
    constexpr std::int64_t experts = 3, rows = 4, cols = 2;  // (E, 2F, D) with F = 2, D = 2
    const auto values = iota_floats(experts * rows * cols);
    write_safetensors(path, {{"mlp.experts.gate_up_proj", "F32", {experts, rows, cols}, bytes_of(values)}});
    const moe::io::safetensors_file file(path);
    const auto ref = file.require("mlp.experts.gate_up_proj");
    moe::io::expect_shape(ref, {experts, rows, cols});

    const auto fused = moe::io::load_tensor<float>(ref);
    CHECK(fused.in_place());
    CHECK(fused.rank() == 3);
    CHECK(fused.shape() == std::vector<std::int64_t>{experts, rows, cols});
    CHECK(fused.numel() == experts * rows * cols);
    for (std::int64_t e = 0; e < experts; ++e) {
        const auto slice = fused.matrix(e);
        CHECK(slice.rows == rows);
        CHECK(slice.cols == cols);
        CHECK(slice.data == fused.data() + e * rows * cols);
        CHECK(slice(rows - 1, cols - 1) == values[static_cast<std::size_t>((e + 1) * rows * cols - 1)]);
    }
    REQUIRE_THROWS_WITH(fused.matrix(3), Contains("fused.safetensors") && Contains("gate_up_proj") &&
                                             Contains("slice 3 is out of range for shape (3, 4, 2)"));
    REQUIRE_THROWS_WITH(fused.matrix(-1), Contains("out of range"));
    REQUIRE_THROWS_WITH(fused.matrix(), Contains("has shape (3, 4, 2), expected a 1-D or 2-D tensor"));
    REQUIRE_THROWS_WITH(moe::io::view_matrix<float>(ref), Contains("fused.safetensors") &&
                                                              Contains("expected a 1-D or 2-D tensor"));

    // Converted 3-D access keeps the same slicing.
    const auto fused_bf16 = moe::io::load_tensor<moe::bfloat16>(ref);
    CHECK_FALSE(fused_bf16.in_place());
    CHECK(moe::to_float(fused_bf16.matrix(2)(3, 1)) == values.back());
}

TEST_CASE("__metadata__ is kept as a string map and is not a tensor", "[io][safetensors]") {
    temp_dir dir;
    const auto path = dir / "meta.safetensors";
    write_safetensors(path, {{"w", "F32", {1}, bytes_of(std::vector<float>{1.0f})}},
                      {{"format", "pt"}, {"note", "hello, world"}});
    const moe::io::safetensors_file file(path);
    REQUIRE(file.metadata().size() == 2);
    CHECK(file.metadata().at("format") == "pt");
    CHECK(file.metadata().at("note") == "hello, world");
    CHECK(file.tensors().size() == 1);
    CHECK_FALSE(file.contains("__metadata__"));
}

TEST_CASE("every supported dtype is recognised with its size", "[io][safetensors]") {
    using moe::io::dtype;
    const std::vector<std::pair<std::string, dtype>> names = {
        {"F64", dtype::f64}, {"F32", dtype::f32}, {"F16", dtype::f16}, {"BF16", dtype::bf16}, {"I64", dtype::i64},
        {"I32", dtype::i32}, {"I16", dtype::i16}, {"I8", dtype::i8},   {"U64", dtype::u64},   {"U32", dtype::u32},
        {"U16", dtype::u16}, {"U8", dtype::u8},   {"BOOL", dtype::boolean}, {"F8_E4M3", dtype::f8_e4m3},
        {"F8_E5M2", dtype::f8_e5m2}};
    temp_dir dir;
    const auto path = dir / "dtypes.safetensors";
    std::vector<tensor_spec> specs;
    for (const auto& [name, type] : names) {
        specs.push_back({"t_" + name, name, {3}, std::vector<std::byte>(3 * moe::io::size_of(type), std::byte{1})});
    }
    write_safetensors(path, specs);
    const moe::io::safetensors_file file(path);
    for (const auto& [name, type] : names) {
        INFO(name);
        CHECK(moe::io::parse_dtype(name) == type);
        CHECK(std::string(moe::io::name_of(type)) == name);
        const auto ref = file.require("t_" + name);
        CHECK(ref.dtype() == type);
        CHECK(ref.bytes.size() == 3 * moe::io::size_of(type));
    }
    CHECK(moe::io::size_of(dtype::f64) == 8);
    CHECK(moe::io::size_of(dtype::bf16) == 2);
    CHECK(moe::io::size_of(dtype::boolean) == 1);
    CHECK_FALSE(moe::io::parse_dtype("f32").has_value());  // case matters, as in the format
    CHECK(moe::io::dtype_of<float>() == dtype::f32);
    CHECK(moe::io::dtype_of<moe::bfloat16>() == dtype::bf16);
    CHECK(moe::io::dtype_of<moe::float16>() == dtype::f16);
    CHECK(moe::io::dtype_of(moe::weight_format::bf16) == dtype::bf16);
}

TEST_CASE("gaps between tensors and trailing bytes are accepted", "[io][safetensors]") {
    temp_dir dir;
    const auto path = dir / "gaps.safetensors";
    const std::vector<float> a = {1.0f, 2.0f}, b = {3.0f};
    std::vector<std::byte> data(64, std::byte{0xee});
    std::memcpy(data.data() + 8, a.data(), 8);
    std::memcpy(data.data() + 32, b.data(), 4);
    write_raw(path,
              R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[32,36]}})",
              data);
    const moe::io::safetensors_file file(path);
    CHECK(moe::io::copy_matrix<float>(file.require("a"))(0, 1) == 2.0f);
    CHECK(moe::io::copy_matrix<float>(file.require("b"))(0, 0) == 3.0f);
}

TEST_CASE("parsing from memory gives the same layout as the file", "[io][safetensors]") {
    const std::vector<tensor_spec> specs = {{"w", "F16", {2, 2}, bytes_of(std::vector<std::uint16_t>{0x3c00, 0, 0, 0x3c00})}};
    const auto bytes = file_bytes(header_for(specs, {{"k", "v"}}), data_for(specs));
    const moe::io::safetensors_view view(bytes, "in-memory");
    CHECK(view.file() == "in-memory");
    REQUIRE(view.tensors().size() == 1);
    CHECK(view.metadata().at("k") == "v");
    const auto identity = moe::io::copy_matrix<float>(view.require("w"));
    CHECK(identity(0, 0) == 1.0f);
    CHECK(identity(0, 1) == 0.0f);
    CHECK(identity(1, 1) == 1.0f);

    const auto layout = moe::io::parse_safetensors(bytes, "in-memory");
    CHECK(layout.data_offset == bytes.size() - 8);
    CHECK(layout.data_size == 8);
}

TEST_CASE("tensor handles and views survive moving the file object", "[io][safetensors]") {
    temp_dir dir;
    const auto path = dir / "m.safetensors";  // short name: the path string may live in a small-string buffer
    write_safetensors(path, {{"w", "F32", {2}, bytes_of(std::vector<float>{5.0f, 6.0f})}});
    moe::io::safetensors_file original(path);
    const auto ref = original.require("w");
    const auto view = moe::io::view_matrix<float>(ref);
    std::vector<moe::io::safetensors_file> files;
    files.push_back(std::move(original));
    files.emplace_back(path);  // reallocation moves the first element again
    CHECK(ref.name() == "w");
    CHECK(std::string(ref.file) == path.string());
    CHECK(view(0, 1) == 6.0f);
    CHECK(files[0].require("w").bytes.data() == ref.bytes.data());
}

TEST_CASE("q8_0_block tensors are quantized at load along the last dimension", "[io][safetensors][q8_0]") {
    temp_dir dir;
    const auto path = dir / "q8.safetensors";
    // A fused (2 experts, 3 rows, 64) F32 tensor, the same values as BF16, a width of 48 and an integer tensor.
    std::vector<float> values(2 * 3 * 64);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.01f * static_cast<float>(static_cast<int>(i % 97) - 48);
    std::vector<std::uint16_t> bf16(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) bf16[i] = moe::bfloat16::from_float(values[i]);
    write_safetensors(path, {{"fused", "F32", {2, 3, 64}, bytes_of(values)},
                             {"fused_bf16", "BF16", {2, 3, 64}, bytes_of(bf16)},
                             {"narrow", "F32", {2, 48}, bytes_of(std::vector<float>(96, 1.0f))},
                             {"ids", "I32", {32}, bytes_of(std::vector<std::int32_t>(32, 1))}});
    const moe::io::safetensors_file file(path);
    const auto fused = moe::io::load_tensor<moe::q8_0_block>(file.require("fused"));
    CHECK_FALSE(fused.in_place());
    CHECK(fused.shape() == std::vector<std::int64_t>{2, 3, 64});
    CHECK(fused.span().size() == 2 * 3 * 2);  // blocks
    // Expert 1 as a (3, 64) matrix: its rows are the quantized rows of the file's slice.
    const auto expert1 = fused.matrix(1);
    CHECK(expert1.rows == 3);
    CHECK(expert1.cols == 64);
    for (std::int64_t r = 0; r < 3; ++r) {
        moe::q8_0_block want[2];
        moe::quantize_q8_0_row(values.data() + (3 + r) * 64, 64, want);
        CHECK(std::memcmp(expert1.row(r), want, sizeof(want)) == 0);
    }
    // bf16 values widened exactly, so the blocks equal those of the F32 tensor holding the same (rounded) values.
    const auto from_bf16 = moe::io::load_tensor<moe::q8_0_block>(file.require("fused_bf16"));
    std::vector<float> widened(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) widened[i] = moe::bfloat16::to_float(bf16[i]);
    std::vector<moe::q8_0_block> want(values.size() / 32);
    moe::quantize_q8_0_row(widened.data(), static_cast<std::int64_t>(widened.size()), want.data());
    CHECK(std::memcmp(from_bf16.span().data(), want.data(), want.size() * sizeof(moe::q8_0_block)) == 0);
    CHECK_THROWS_WITH(moe::io::load_tensor<moe::q8_0_block>(file.require("narrow")),
                      Contains("narrow") && Contains("multiple of 32"));
    CHECK_THROWS_WITH(moe::io::load_tensor<moe::q8_0_block>(file.require("ids")),
                      Contains("ids") && Contains("I32"));
}

}  // namespace test_safetensors_read
