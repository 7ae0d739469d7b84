// Broken safetensors files: each one must throw checkpoint_error naming the file and the specific problem
// (and the tensor when there is one) — never crash, never read out of bounds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "moe/io.hpp"
#include "safetensors_writer.hpp"

namespace test_safetensors_corrupt {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe_test;

namespace {

// Opens `path` expecting a checkpoint_error whose message contains the file name and every piece in `pieces`.
void expect_open_error(const std::filesystem::path& path, std::initializer_list<std::string> pieces) {
    std::string message;
    try {
        const moe::io::safetensors_file file(path);
        FAIL("opened without error: " << path.string());
    } catch (const moe::io::checkpoint_error& error) {
        message = error.what();
    }
    INFO("message: " << message);
    CHECK(message.find(path.filename().string()) != std::string::npos);
    for (const auto& piece : pieces) {
        INFO("expected piece: " << piece);
        CHECK(message.find(piece) != std::string::npos);
    }
}

// Writes one file with the given header and `data_bytes` zero bytes of data, then expects the error.
void expect_header_error(const std::string& file_name, const std::string& header, std::size_t data_bytes,
                         std::initializer_list<std::string> pieces) {
    temp_dir dir;
    const auto path = dir / file_name;
    write_raw(path, header, std::vector<std::byte>(data_bytes));
    expect_open_error(path, pieces);
}

std::vector<std::byte> length_prefix(std::uint64_t length) {
    std::vector<std::byte> bytes(8);
    for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<std::byte>((length >> (8 * i)) & 0xff);
    return bytes;
}

}  // namespace

TEST_CASE("corrupt: file shorter than the 8-byte length", "[io][corrupt]") {
    temp_dir dir;
    write_bytes(dir / "short.safetensors", std::vector<std::byte>(5));
    expect_open_error(dir / "short.safetensors", {"file is 5 bytes", "too short for the 8-byte header length"});
    write_bytes(dir / "empty.safetensors", {});
    expect_open_error(dir / "empty.safetensors", {"file is 0 bytes"});
}

TEST_CASE("corrupt: header length runs past the end of the file", "[io][corrupt]") {
    temp_dir dir;
    auto bytes = length_prefix(1000);
    const std::string header = "{}";
    for (char c : header) bytes.push_back(static_cast<std::byte>(c));
    write_bytes(dir / "truncated.safetensors", bytes);
    expect_open_error(dir / "truncated.safetensors",
                      {"header length 1000 runs past the end of the file", "(2 bytes after the length)"});
}

TEST_CASE("corrupt: absurdly large header length", "[io][corrupt]") {
    temp_dir dir;
    std::vector<std::byte> bytes(64, std::byte{'{'});  // (not resize(): g++ 12 -Warray-bounds false positive)
    const auto prefix = length_prefix(0xffff'ffff'ffff'fff0ull);
    std::copy(prefix.begin(), prefix.end(), bytes.begin());
    write_bytes(dir / "huge.safetensors", bytes);
    expect_open_error(dir / "huge.safetensors", {"header length 18446744073709551600 exceeds the limit"});
    write_bytes(dir / "big.safetensors", length_prefix(moe::io::max_header_bytes + 1));
    expect_open_error(dir / "big.safetensors", {"exceeds the limit of 100000000 bytes"});
}

TEST_CASE("corrupt: malformed JSON header", "[io][corrupt]") {
    expect_header_error("badjson.safetensors", R"({"w": {"dtype": "F32",)", 0, {"malformed JSON header"});
    expect_header_error("emptyheader.safetensors", "", 0, {"malformed JSON header"});
    expect_header_error("trailing.safetensors", "{} x", 0, {"malformed JSON header"});
    expect_header_error("badutf8.safetensors", "{\"\xff\": 1}", 0, {"malformed JSON header"});
}

TEST_CASE("corrupt: header is not a JSON object", "[io][corrupt]") {
    expect_header_error("array.safetensors", "[1, 2]", 0, {"JSON header is an array, expected an object"});
    expect_header_error("string.safetensors", R"("hello")", 0, {"JSON header is a string"});
    expect_header_error("null.safetensors", "null", 0, {"JSON header is a null"});
}

TEST_CASE("corrupt: tensor entry is not an object", "[io][corrupt]") {
    expect_header_error("entry.safetensors", R"({"w": [1, 2]})", 0,
                        {"tensor 'w'", "entry is an array, expected an object"});
}

TEST_CASE("corrupt: tensor entry missing dtype", "[io][corrupt]") {
    expect_header_error("nodtype.safetensors", R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4,
                        {"tensor 'w'", "missing 'dtype'"});
}

TEST_CASE("corrupt: tensor entry missing shape", "[io][corrupt]") {
    expect_header_error("noshape.safetensors", R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4,
                        {"tensor 'w'", "missing 'shape'"});
}

TEST_CASE("corrupt: tensor entry missing data_offsets", "[io][corrupt]") {
    expect_header_error("nooffsets.safetensors", R"({"w": {"dtype": "F32", "shape": [1]}})", 4,
                        {"tensor 'w'", "missing 'data_offsets'"});
}

TEST_CASE("corrupt: wrong JSON types in a tensor entry", "[io][corrupt]") {
    expect_header_error("dtypetype.safetensors", R"({"w": {"dtype": 32, "shape": [1], "data_offsets": [0, 4]}})", 4,
                        {"tensor 'w'", "'dtype' is a number, expected a string"});
    expect_header_error("shapetype.safetensors", R"({"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}})",
                        4, {"tensor 'w'", "'shape' is a string, expected an array of integers"});
    expect_header_error("dimtype.safetensors", R"({"w": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}})",
                        4, {"tensor 'w'", "shape[0] is a string, expected an integer"});
    expect_header_error("offtype.safetensors", R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": "0-4"}})", 4,
                        {"tensor 'w'", "'data_offsets' must be [begin, end], got a string"});
    expect_header_error("offelem.safetensors", R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, null]}})",
                        4, {"tensor 'w'", "data_offsets[1] is a null, expected an integer"});
}

TEST_CASE("corrupt: unknown dtype", "[io][corrupt]") {
    // F8_E8M0 (DeepSeek-V4's scale dtype) is not one of the recognised dtypes (F8_E4M3 and F8_E5M2 are).
    expect_header_error("e8m0.safetensors", R"({"w": {"dtype": "F8_E8M0", "shape": [4], "data_offsets": [0, 4]}})", 4,
                        {"tensor 'w'", "unknown dtype 'F8_E8M0'", "known: F64, F32, F16, BF16", "F8_E4M3, F8_E5M2"});
    expect_header_error("lower.safetensors", R"({"w": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}})", 4,
                        {"tensor 'w'", "unknown dtype 'f32'"});
}

TEST_CASE("corrupt: negative shape", "[io][corrupt]") {
    expect_header_error("negshape.safetensors", R"({"w": {"dtype": "F32", "shape": [2, -3], "data_offsets": [0, 4]}})",
                        4, {"tensor 'w'", "shape[1] is negative (-3)"});
}

TEST_CASE("corrupt: non-integer shape", "[io][corrupt]") {
    expect_header_error("floatshape.safetensors", R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 4]}})",
                        4, {"tensor 'w'", "shape[0] is not an integer"});
    // Past 2^64 nlohmann reads a float, so this is also "not an integer".
    expect_header_error("hugedim.safetensors",
                        R"({"w": {"dtype": "F32", "shape": [99999999999999999999999], "data_offsets": [0, 4]}})", 4,
                        {"tensor 'w'", "shape[0] is not an integer"});
    expect_header_error("bigdim.safetensors",
                        R"({"w": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 4]}})", 4,
                        {"tensor 'w'", "shape[0] = 18446744073709551615 is too large"});
}

TEST_CASE("corrupt: shape product overflow", "[io][corrupt]") {
    expect_header_error(
        "overflow.safetensors",
        R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", 4,
        {"tensor 'w'", "shape (4294967296, 4294967296) overflows"});
    // The element count fits in 63 bits but the byte count does not.
    expect_header_error("byteoverflow.safetensors",
                        R"({"w": {"dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 8]}})", 8,
                        {"tensor 'w'", "overflows"});
}

TEST_CASE("shape with a zero dimension after huge ones: zero elements, no overflow", "[io][corrupt]") {
    // The parser skips the product check when a dimension is 0; numel() must not multiply the others first
    // (2^40 · 2^40 overflows int64 — undefined behaviour the sanitizer build would catch).
    temp_dir dir;
    const auto path = dir / "zero_last.safetensors";
    write_raw(path, R"({"w": {"dtype": "F32", "shape": [1099511627776, 1099511627776, 0], "data_offsets": [0, 0]}})",
              {});
    const moe::io::safetensors_file file(path);
    const auto ref = file.require("w");
    CHECK(ref.numel() == 0);
    CHECK(ref.bytes.empty());
}

TEST_CASE("corrupt: data_offsets is not [begin, end]", "[io][corrupt]") {
    expect_header_error("offsets1.safetensors", R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4,
                        {"tensor 'w'", "'data_offsets' must be [begin, end], got an array of 1"});
    expect_header_error("offsets3.safetensors", R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})",
                        8, {"tensor 'w'", "got an array of 3"});
    expect_header_error("negoffset.safetensors", R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})",
                        4, {"tensor 'w'", "data_offsets[0] is negative (-4)"});
    expect_header_error("floatoffset.safetensors", R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0]}})",
                        4, {"tensor 'w'", "data_offsets[1] is not an integer"});
}

TEST_CASE("corrupt: data_offsets begin after end", "[io][corrupt]") {
    expect_header_error("reversed.safetensors", R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8,
                        {"tensor 'w'", "data offsets [8, 4) begin after they end"});
}

TEST_CASE("corrupt: data offsets run past the data section", "[io][corrupt]") {
    expect_header_error("model-00002.safetensors",
                        R"({"model.layers.0.mlp.gate.weight": {"dtype": "F32", "shape": [200], )"
                        R"("data_offsets": [100, 900]}})",
                        512,
                        {"model-00002.safetensors: tensor 'model.layers.0.mlp.gate.weight': data offsets [100, 900) "
                         "run past the data section (512 bytes)"});
    expect_header_error("pastend.safetensors",
                        R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [18446744073709551615, 18446744073709551615]}})",
                        0, {"tensor 'w'", "run past the data section (0 bytes)"});
}

TEST_CASE("corrupt: byte size differs from shape times dtype size", "[io][corrupt]") {
    expect_header_error("size.safetensors", R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})", 16,
                        {"tensor 'w'", "data offsets [0, 12) hold 12 bytes, but shape (2, 2) of F32 needs 16 bytes"});
    expect_header_error("size16.safetensors", R"({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 12]}})", 16,
                        {"tensor 'w'", "hold 12 bytes, but shape (3) of BF16 needs 6 bytes"});
    expect_header_error("sizezero.safetensors", R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [0, 4]}})", 4,
                        {"tensor 'w'", "needs 0 bytes"});
}

TEST_CASE("corrupt: overlapping tensors", "[io][corrupt]") {
    expect_header_error("overlap.safetensors",
                        R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
                        R"( "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
                        24, {"tensor 'b'", "data offsets [8, 24) overlap tensor 'a' [0, 16)"});
    // Identical ranges overlap too; a contained range is caught whatever the name order.
    expect_header_error("same.safetensors",
                        R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                        R"( "b": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})",
                        4, {"overlap tensor"});
    expect_header_error("inside.safetensors",
                        R"({"z": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]},)"
                        R"( "a": {"dtype": "U8", "shape": [4], "data_offsets": [12, 16]}})",
                        32, {"tensor 'a'", "overlap tensor 'z' [0, 32)"});
}

TEST_CASE("corrupt: __metadata__ that is not a string map", "[io][corrupt]") {
    expect_header_error("metatype.safetensors", R"({"__metadata__": ["pt"]})", 0,
                        {"'__metadata__' is an array, expected an object of strings"});
    expect_header_error("metavalue.safetensors", R"({"__metadata__": {"format": "pt", "epoch": 3}})", 0,
                        {"'__metadata__' entry 'epoch' is a number, expected a string"});
}

TEST_CASE("corrupt: the path is missing or not a regular file", "[io][corrupt]") {
    temp_dir dir;
    expect_open_error(dir / "absent.safetensors", {"cannot open", "No such file"});
    std::filesystem::create_directory(dir / "folder.safetensors");
    expect_open_error(dir / "folder.safetensors", {"not a regular file"});
}

TEST_CASE("corrupt: the in-memory parser reports the same problems", "[io][corrupt]") {
    const std::vector<std::byte> tiny(3);
    REQUIRE_THROWS_WITH(moe::io::parse_safetensors(tiny, "buffer"),
                        Catch::Matchers::StartsWith("buffer: file is 3 bytes"));
    const auto bytes = file_bytes(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                                  std::vector<std::byte>(4));
    REQUIRE_THROWS_WITH(moe::io::parse_safetensors(bytes, "buffer"),
                        Catch::Matchers::Equals("buffer: tensor 'w': data offsets [0, 8) run past the data section (4 bytes)"));
}

}  // namespace test_safetensors_corrupt
