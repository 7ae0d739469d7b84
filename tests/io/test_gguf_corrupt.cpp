// Broken and hostile GGUF files: each must throw gguf_error naming the file and the specific problem (and the key or
// tensor when there is one) — never crash, read out of bounds, or allocate by an unchecked count. The files are
// built with tests/io/gguf_writer.hpp; the rules are llama.cpp's own reader's.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "gguf_writer.hpp"
#include "moe/io.hpp"
#include "safetensors_writer.hpp"

namespace test_gguf_corrupt {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe_test;

namespace {

const std::string data_dir = std::string(MOE_TEST_DATA_DIR) + "/gguf";

// Opens `path` expecting a gguf_error whose message starts with the path and contains every piece.
void expect_open_error(const std::filesystem::path& path, std::initializer_list<std::string> pieces) {
    std::string message;
    try {
        const moe::io::gguf_file file(path);
        FAIL("opened without error: " << path.string());
    } catch (const moe::io::gguf_error& error) {
        message = error.what();
    }
    INFO("message: " << message);
    CHECK(message.rfind(path.string() + ": ", 0) == 0);
    for (const auto& piece : pieces) {
        INFO("expected piece: " << piece);
        CHECK(message.find(piece) != std::string::npos);
    }
}

void expect_error(const std::vector<std::byte>& bytes, std::initializer_list<std::string> pieces) {
    temp_dir dir;
    const auto path = dir / "bad.gguf";
    write_bytes(path, bytes);
    expect_open_error(path, pieces);
}

void expect_error(const gguf_spec& spec, std::initializer_list<std::string> pieces) {
    expect_error(gguf_bytes(spec), pieces);
}

// A small valid file: two keys, two tensors.
gguf_spec valid_spec() {
    gguf_spec spec;
    spec.metadata = {kv_string("general.architecture", "qwen3moe"), kv_u32("qwen3moe.block_count", 2)};
    spec.tensors = {f32_tensor("a", {4, 2}), f32_tensor("b", {3})};
    return spec;
}

std::vector<std::byte> u64_bytes(std::uint64_t v) { return le_bytes{}.put(v).out; }

}  // namespace

TEST_CASE("gguf corrupt: the valid baseline opens", "[io][gguf][corrupt]") {
    temp_dir dir;
    write_bytes(dir / "ok.gguf", gguf_bytes(valid_spec()));
    const moe::io::gguf_file file(dir / "ok.gguf");
    CHECK(file.integer("qwen3moe.block_count") == 2);
    CHECK(file.tensors().size() == 2);
}

TEST_CASE("gguf corrupt: truncated files", "[io][gguf][corrupt]") {
    const auto bytes = gguf_bytes(valid_spec());
    SECTION("empty and shorter than the magic") {
        expect_error(std::vector<std::byte>{}, {"file is 0 bytes, too short for the GGUF magic"});
        expect_error(std::vector<std::byte>(bytes.begin(), bytes.begin() + 3), {"file is 3 bytes"});
    }
    SECTION("in the header and the metadata") {
        gguf_spec spec;  // one entry, no tensors: every cut below leaves at least the 14 bytes an entry needs
        spec.metadata = {kv_string("general.architecture", "qwen3moe")};
        const auto one = gguf_bytes(spec);
        const auto cut = [&](std::size_t n) { return std::vector<std::byte>(one.begin(), one.begin() + n); };
        expect_error(cut(6), {"truncated: the file ends inside the version (offset 4 needs 4 bytes, 2 remain)"});
        expect_error(cut(12), {"truncated: the file ends inside the tensor count"});
        expect_error(cut(20), {"truncated: the file ends inside the metadata count"});
        expect_error(cut(30), {"metadata count 1 cannot fit in the 6 bytes left in the file (truncated, or a corrupt count)"});
        // 24-byte header, then key: 8-byte length + "general.architecture" (20 bytes), type, value (8 + 8).
        expect_error(cut(40), {"the key of metadata entry 0 at offset 24 has length 20, past the end of the file (8 bytes remain)"});
        expect_error(cut(54), {"truncated: the file ends inside the type of metadata 'general.architecture'"});
        expect_error(cut(60), {"truncated: the file ends inside the string value of metadata 'general.architecture'"});
        expect_error(cut(66), {"the string value of metadata 'general.architecture' at offset 56 has length 8, past the end"});
    }
    SECTION("in the tensor infos") {
        gguf_spec spec;  // one tensor with a 26-byte name: its info is 66 bytes, from offset 24
        spec.tensors = {f32_tensor("blk.0.ffn_down_exps.weight", {4, 2})};
        const auto one = gguf_bytes(spec);
        const auto cut = [&](std::size_t n) { return std::vector<std::byte>(one.begin(), one.begin() + n); };
        expect_error(cut(24 + 10), {"tensor count 1 cannot fit in the 10 bytes left"});
        expect_error(cut(24 + 30), {"the name of tensor 0 at offset 24 has length 26, past the end of the file"});
        expect_error(cut(24 + 36), {"truncated: the file ends inside the shape of tensor 'blk.0.ffn_down_exps.weight'"});
        expect_error(cut(24 + 46), {"truncated: the file ends inside the shape of tensor 'blk.0.ffn_down_exps.weight'"});
        expect_error(cut(24 + 56), {"truncated: the file ends inside the type of tensor 'blk.0.ffn_down_exps.weight'"});
        expect_error(cut(24 + 60), {"truncated: the file ends inside the data offset of tensor 'blk.0.ffn_down_exps.weight'"});
        expect_error(cut(24 + 66), {"the data section would start at offset 96", "past the end of the file (90 bytes)"});
    }
    SECTION("in the data section") {
        expect_error(std::vector<std::byte>(bytes.begin(), bytes.end() - 1),
                     {"tensor 'b': data [32, 44) runs past the end of the file (43 bytes of data"});
        const auto header_only = std::vector<std::byte>(bytes.begin(), bytes.end() - 44);  // the data section is 44 bytes
        expect_error(header_only, {"tensor 'a': data [0, 32) runs past the end of the file (0 bytes of data"});
    }
    SECTION("every prefix of a valid file is refused, none crashes") {
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            INFO("prefix of " << n << " bytes");
            const std::span<const std::byte> prefix(bytes.data(), n);
            CHECK_THROWS_AS(moe::io::gguf_view(prefix, "prefix.gguf"), moe::io::gguf_error);
        }
        CHECK_NOTHROW(moe::io::gguf_view(bytes, "whole.gguf"));
    }
}

TEST_CASE("gguf corrupt: magic and version", "[io][gguf][corrupt]") {
    auto spec = valid_spec();
    SECTION("wrong magic") {
        spec.magic = "GGML";
        expect_error(spec, {"not a GGUF file: it starts with 'GGML', expected 'GGUF'"});
        spec.magic = std::string("\x1b[2J", 4);  // control bytes are escaped, not echoed
        expect_error(spec, {"it starts with '\\x1b[2J'"});
    }
    SECTION("version 0, 1 and 4") {
        spec.version = 0;
        expect_error(spec, {"GGUF version 0 is invalid"});
        spec.version = 1;
        expect_error(spec, {"GGUF version 1 is no longer supported"});
        spec.version = 4;
        expect_error(spec, {"GGUF version 4 is newer than this reader (versions 2 to 3)"});
    }
    SECTION("a byte-swapped version: a big-endian file") {
        spec.version = 0x03000000;
        expect_error(spec, {"version field reads 50331648: this is a big-endian GGUF file (version 3 byte-swapped)",
                            "only little-endian files are read"});
        // The same from a file gguf-py wrote with endianess=BIG (tools/make_gguf_reference.py).
        expect_open_error(data_dir + "/big_endian.gguf", {"this is a big-endian GGUF file (version 3 byte-swapped)"});
    }
}

TEST_CASE("gguf corrupt: metadata", "[io][gguf][corrupt]") {
    auto spec = valid_spec();
    SECTION("unknown value type") {
        spec.metadata.push_back({"bad.type", 13, {}});
        expect_error(spec, {"metadata 'bad.type' has unknown value type 13 (GGUF types are 0 to 12)"});
    }
    SECTION("unknown array element type") {
        spec.metadata.push_back(kv_array("bad.array", 99, 1, u64_bytes(0)));
        expect_error(spec, {"metadata 'bad.array' is an array of unknown value type 99"});
    }
    SECTION("nested arrays") {
        spec.metadata.push_back(kv_array("nested", tag_array, 1, le_bytes{}.put<std::uint32_t>(tag_uint8).put<std::uint64_t>(0).out));
        expect_error(spec, {"metadata 'nested' is an array of arrays"});
    }
    SECTION("string length past the end of the file") {
        spec.metadata.push_back({"long.string", tag_string, le_bytes{}.put<std::uint64_t>(1000).out});
        expect_error(spec, {"the string value of metadata 'long.string' at offset", "has length 1000, past the end of the file"});
        spec.metadata.back().value = u64_bytes(std::uint64_t{1} << 40);
        expect_error(spec, {"has length 1099511627776, above the limit of 1073741824 bytes"});
    }
    SECTION("a key whose length runs past the end of the file") {
        gguf_spec bare;
        bare.metadata_count = 1;
        auto bytes = gguf_bytes(bare);
        le_bytes tail;  // the length, then 8 bytes so that an entry's minimum of 14 fits
        tail.put<std::uint64_t>(~std::uint64_t{0}).put<std::uint64_t>(0);
        bytes.insert(bytes.end(), tail.out.begin(), tail.out.end());
        expect_error(bytes, {"the key of metadata entry 0 at offset 24 has length 18446744073709551615"});
    }
    SECTION("huge array counts are refused before allocating") {
        // 10^9 strings declared in a file of ~200 bytes.
        spec.metadata.push_back(kv_array("tokenizer.ggml.tokens", tag_string, 1'000'000'000, {}));
        expect_error(spec, {"metadata 'tokenizer.ggml.tokens' is an array of 1000000000 string elements, more than the",
                            "bytes left in the file can hold"});
        spec.metadata.back() = kv_array("big", tag_uint8, std::uint64_t{1} << 31, {});
        expect_error(spec, {"metadata 'big' is an array of 2147483648 elements, above the limit of 1073741824"});
        gguf_spec last;  // the array ends the file: 396 bytes cannot hold 100 float32
        last.metadata = {kv_array("floats", tag_float32, 100, std::vector<std::byte>(396))};
        expect_error(last, {"metadata 'floats' is an array of 100 float32 elements, more than the 396 bytes"});
    }
    SECTION("a string array whose last string runs past the end") {
        auto elements = le_bytes{}.text("ok").put<std::uint64_t>(500).out;
        spec.metadata.push_back(kv_array("strings", tag_string, 2, elements));
        expect_error(spec, {"a string in metadata 'strings' at offset", "has length 500, past the end of the file"});
    }
    SECTION("huge metadata and tensor counts") {
        spec.metadata_count = std::uint64_t{1} << 60;
        expect_error(spec, {"metadata count 1152921504606846976 cannot fit in the", "bytes left in the file"});
        spec.metadata_count.reset();
        spec.tensor_count = ~std::uint64_t{0};
        expect_error(spec, {"tensor count 18446744073709551615 cannot fit in the"});
        gguf_spec small;  // 5 tensor infos fit the bytes after the header, not what is left after the metadata
        small.metadata = {kv_string("k", std::string(200, 'x'))};
        small.tensor_count = 5;
        expect_error(small, {"tensor count 5 cannot fit in the 0 bytes left after the metadata"});
    }
    SECTION("duplicate key") {
        spec.metadata.push_back(kv_u32("qwen3moe.block_count", 3));
        expect_error(spec, {"metadata 'qwen3moe.block_count' appears twice (entries 1 and 2)"});
    }
    SECTION("empty key") {
        spec.metadata.push_back(kv_u32("", 3));
        expect_error(spec, {"metadata entry 2 has an empty key"});
    }
    SECTION("general.alignment: a power of two, as a uint32") {
        spec.metadata.push_back(kv_u32("general.alignment", 0));
        expect_error(spec, {"metadata 'general.alignment' is 0, expected a non-zero power of two"});
        spec.metadata.back() = kv_u32("general.alignment", 48);
        expect_error(spec, {"metadata 'general.alignment' is 48, expected a non-zero power of two"});
        spec.metadata.back() = kv_scalar("general.alignment", tag_uint64, std::uint64_t{32});
        expect_error(spec, {"metadata 'general.alignment' is a uint64, expected a uint32"});
    }
    SECTION("metadata of the wrong type asked for") {
        temp_dir dir;
        write_bytes(dir / "typed.gguf", gguf_bytes(spec));
        const moe::io::gguf_file file(dir / "typed.gguf");
        CHECK_THROWS_WITH(file.integer("general.architecture"),
                          (dir / "typed.gguf").string() + ": metadata 'general.architecture' is a string, expected an integer");
        CHECK_THROWS_WITH(file.string("qwen3moe.block_count"),
                          (dir / "typed.gguf").string() + ": metadata 'qwen3moe.block_count' is a uint32, expected a string");
    }
    SECTION("a huge key is echoed capped") {
        spec.metadata.push_back(kv_u32("qwen3moe.block_count", 1));
        spec.metadata.back().key = std::string(100'000, 'k');
        spec.metadata.push_back(spec.metadata.back());
        temp_dir dir;
        write_bytes(dir / "long.gguf", gguf_bytes(spec));
        try {
            const moe::io::gguf_file file(dir / "long.gguf");
            FAIL("opened");
        } catch (const moe::io::gguf_error& error) {
            const std::string message = error.what();
            CHECK(message.find("appears twice") != std::string::npos);
            CHECK(message.find("(100000 bytes)") != std::string::npos);
            CHECK(message.size() < 1000);
        }
    }
}

TEST_CASE("gguf corrupt: tensor infos", "[io][gguf][corrupt]") {
    auto spec = valid_spec();
    SECTION("duplicate tensor") {
        spec.tensors.push_back(f32_tensor("a", {2}));
        expect_error(spec, {"tensor 'a': appears twice (tensors 0 and 2)"});
    }
    SECTION("a name longer than ggml's 63 bytes") {
        spec.tensors.push_back(f32_tensor(std::string(64, 'n'), {2}));
        expect_error(spec, {"tensor 2 has a name of 64 bytes", "longer than ggml's limit of 63"});
    }
    SECTION("n_dims 5 (0 is a scalar, as llama.cpp reads it: see test_gguf_read)") {
        spec.tensors[1].ne = {1, 1, 1, 1, 1};
        expect_error(spec, {"tensor 'b': has 5 dimensions; ggml tensors have at most 4"});
        spec.tensors[1].ne = {};
        spec.tensors[1].n_dims = 0xffffffffu;
        expect_error(spec, {"tensor 'b': has 4294967295 dimensions"});
    }
    SECTION("negative ne") {
        spec.tensors[1].ne = {4, -2};
        expect_error(spec, {"tensor 'b': ne[1] = -2 is negative"});
    }
    SECTION("ne product overflow") {
        spec.tensors[1].ne = {std::int64_t{1} << 32, std::int64_t{1} << 31, 2};
        expect_error(spec, {"tensor 'b': ne [4294967296, 2147483648, 2] has more than 2^63 - 1 elements"});
        // A zero dimension makes the product 0, whatever the rest (llama.cpp: a zero-element tensor is fine).
        // The zero last: numel() must not multiply the others first (a fuzzer finding, UBSan).
        spec.tensors[1].ne = {INT64_MAX, INT64_MAX, 0};
        spec.tensors[1].data_bytes = 0;
        temp_dir dir;
        write_bytes(dir / "zero.gguf", gguf_bytes(spec));
        const moe::io::gguf_file file(dir / "zero.gguf");
        CHECK(file.require_tensor("b").bytes == 0);
        CHECK(file.require_tensor("b").numel() == 0);
    }
    SECTION("byte size overflow") {
        spec.tensors[1].ne = {std::int64_t{1} << 62};  // 2^62 F32 elements: 2^64 bytes
        expect_error(spec, {"tensor 'b': ne [4611686018427387904] of F32 takes more than 2^63 - 1 bytes"});
    }
    SECTION("unknown and removed ggml types") {
        spec.tensors[1].type = 43;
        expect_error(spec, {"tensor 'b': has unknown ggml type id 43"});
        spec.tensors[1].type = 31;  // Q4_0_4_4, removed from GGUF files
        expect_error(spec, {"tensor 'b': has unknown ggml type id 31"});
        spec.tensors[1].type = 4;
        expect_error(spec, {"has unknown ggml type id 4"});
    }
    SECTION("ne[0] not a multiple of the block size") {
        spec.tensors[1] = {"q", {48, 2}, 12, 0, {}, {}, {}};  // Q4_K blocks hold 256
        expect_error(spec, {"tensor 'q': ne[0] = 48 is not a multiple of the Q4_K block size 256"});
        spec.tensors[1] = {"q8", {33}, 8, 0, {}, {}, {}};
        expect_error(spec, {"tensor 'q8': ne[0] = 33 is not a multiple of the Q8_0 block size 32"});
    }
}

TEST_CASE("gguf corrupt: tensor data offsets", "[io][gguf][corrupt]") {
    auto spec = valid_spec();
    SECTION("misaligned offset") {
        spec.tensors[1].offset = 33;
        expect_error(spec, {"tensor 'b': offset 33 is not a multiple of the alignment 32"});
    }
    SECTION("aligned, but not where llama.cpp expects it") {
        spec.tensors[1].offset = 64;
        expect_error(spec, {"tensor 'b': offset 64, expected 32 (tensor data must follow in file order"});
        spec.tensors[1].offset = 0;  // overlapping 'a'
        expect_error(spec, {"tensor 'b': offset 0, expected 32"});
        spec.tensors[1].offset.reset();
        spec.tensors[0].offset = 32;  // the first tensor must start the data section
        expect_error(spec, {"tensor 'a': offset 32, expected 0"});
    }
    SECTION("data out of range") {
        spec.tensors[1].offset = std::uint64_t{1} << 63;
        expect_error(spec, {"tensor 'b': offset 9223372036854775808, expected 32"});
        spec.tensors[1].offset.reset();
        spec.tensors[1].ne = {1000};  // declares 4000 bytes; 12 written
        expect_error(spec, {"tensor 'b': data [32, 4032) runs past the end of the file (44 bytes of data after offset"});
    }
    SECTION("the data section would start past the end of the file") {
        spec.metadata.push_back(kv_u32("general.alignment", std::uint32_t{1} << 20));
        auto bytes = gguf_bytes(spec);
        bytes.resize(300);  // header ends before 300; its padded end is 1 MiB
        expect_error(bytes, {"the data section would start at offset 1048576", "past the end of the file (300 bytes)"});
    }
}

TEST_CASE("gguf corrupt: not a regular file", "[io][gguf][corrupt]") {
    temp_dir dir;
    expect_open_error(dir.path(), {"is a directory, not a regular file"});
    expect_open_error(dir / "missing.gguf", {"cannot open"});
    REQUIRE(::mkfifo((dir / "fifo.gguf").c_str(), 0600) == 0);
    expect_open_error(dir / "fifo.gguf", {"is a FIFO, not a regular file"});
}

}  // namespace test_gguf_corrupt
