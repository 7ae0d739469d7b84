// Reading valid GGUF files: a file written by gguf-py (tests/data/gguf/reference.gguf) must read back exactly as
// gguf-py's GGUFReader reads it (reference.json: every key's type and value, every tensor's name, type, ne, offset
// and a checksum of its bytes — tools/make_gguf_reference.py); typed metadata access; the ggml type table against
// gguf-py's; is_gguf_file.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gguf_writer.hpp"
#include "moe/io.hpp"
#include "safetensors_writer.hpp"

namespace test_gguf_read {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe_test;
using Catch::Matchers::Contains;
using moe::io::gguf_value_type;

namespace {

const std::string data_dir = std::string(MOE_TEST_DATA_DIR) + "/gguf";

nlohmann::json reference_json() {
    std::ifstream in(data_dir + "/reference.json");
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
}

std::uint64_t fnv1a64(std::span<const std::byte> bytes) {
    std::uint64_t h = 0xCBF29CE484222325ull;
    for (std::byte b : bytes) {
        h ^= std::to_integer<std::uint64_t>(b);
        h *= 0x100000001B3ull;
    }
    return h;
}

// The message of the gguf_error `f` throws ("" and a failed check when it throws nothing).
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const moe::io::gguf_error& error) {
        return error.what();
    }
    FAIL_CHECK("no gguf_error thrown");
    return "";
}

}  // namespace

TEST_CASE("gguf: a gguf-py file reads back as gguf-py reads it", "[io][gguf]") {
    const auto ref = reference_json();
    const moe::io::gguf_file file(data_dir + "/reference.gguf");
    CHECK(file.path() == data_dir + "/reference.gguf");
    CHECK(file.version() == ref["version"].get<std::uint32_t>());
    CHECK(file.alignment() == 64);
    CHECK(file.alignment() == ref["alignment"].get<std::uint64_t>());
    CHECK(file.data_offset() == ref["data_offset"].get<std::size_t>());

    SECTION("every key, in file order, with its type and value") {
        const auto& metadata = ref["metadata"];
        const auto keys = file.keys();
        REQUIRE(keys.size() == metadata.size());
        std::size_t scalars = 0, arrays = 0;
        for (std::size_t i = 0; i < keys.size(); ++i) {
            const auto& entry = metadata[i];
            const std::string key = entry["key"];
            INFO("key " << key);
            CHECK(keys[i] == key);
            REQUIRE(file.contains(key));
            const auto type = *file.type_of(key);
            CHECK(name_of(type) == entry["type"].get<std::string>());
            const auto& value = entry["value"];
            if (type == gguf_value_type::array) {
                ++arrays;
                const auto element = file.find_value(key)->element_type;
                CHECK(name_of(element) == entry["element_type"].get<std::string>());
                CHECK(file.array_size(key) == value.size());
                if (element == gguf_value_type::string) {
                    CHECK(file.string_array(key) == value.get<std::vector<std::string>>());
                } else if (element == gguf_value_type::boolean) {
                    CHECK_THROWS_WITH(file.integer_array(key), Contains("is an array of bool, expected an array of integers"));
                } else if (is_integer(element)) {
                    CHECK(file.integer_array(key) == value.get<std::vector<std::int64_t>>());
                    // number_array accepts integers a double holds exactly (|v| <= 2^53 here) and refuses others.
                    bool exact = true;
                    for (const auto& v : value) exact = exact && std::abs(v.get<double>()) <= 9007199254740992.0;
                    if (exact) {
                        const auto numbers = file.number_array(key);
                        REQUIRE(numbers.size() == value.size());
                        for (std::size_t j = 0; j < numbers.size(); ++j) {
                            CHECK(numbers[j] == static_cast<double>(value[j].get<std::int64_t>()));
                        }
                    } else {
                        CHECK_THROWS_WITH(file.number_array(key), Contains("a double cannot hold exactly"));
                    }
                } else {
                    CHECK(file.number_array(key) == value.get<std::vector<double>>());  // exact: float32 → double
                    CHECK_THROWS_WITH(file.integer_array(key), Contains("expected an array of integers"));
                }
                continue;
            }
            ++scalars;
            switch (type) {
                case gguf_value_type::string: CHECK(file.string(key) == value.get<std::string>()); break;
                case gguf_value_type::boolean: CHECK(file.boolean(key) == value.get<bool>()); break;
                case gguf_value_type::float32:
                case gguf_value_type::float64: {
                    const double expected = value.get<double>();
                    CHECK(file.number(key) == expected);
                    CHECK(std::signbit(file.number(key)) == std::signbit(expected));  // -0.0 stays -0.0
                    break;
                }
                default:
                    if (value.is_number_unsigned() && value.get<std::uint64_t>() > INT64_MAX) {
                        CHECK_THROWS_WITH(file.integer(key), Contains("is 18446744073709551615, above the int64 range"));
                    } else {
                        CHECK(file.integer(key) == value.get<std::int64_t>());
                    }
            }
        }
        CHECK(scalars == 21);
        CHECK(arrays == 14);
        // The values the generator chose, spelled out (not only "as gguf-py read them").
        CHECK(file.string("test.string") == "Привет, 世界! 🚀");
        CHECK(file.string("test.string_nul") == std::string("a\0b", 3));
        CHECK(file.string("test.string_empty").empty());
        CHECK(file.string("test.ключ") == "UTF-8 key");
        CHECK(file.integer("test.int64") == INT64_MIN);
        CHECK(file.integer("test.uint64") == 9007199254740993);
        CHECK(file.number("test.uint32") == 4e9);
        CHECK(file.number("test.float32") == static_cast<double>(1e-6f));
        CHECK(file.string("general.architecture") == "test");
        CHECK(file.string_array("tokenizer.ggml.tokens").size() == 40);
        CHECK(file.string_array("tokenizer.ggml.tokens")[39] == "tok39");
    }

    SECTION("every tensor, in file order, with type, ne, offset and bytes") {
        const auto& tensors = ref["tensors"];
        REQUIRE(file.tensors().size() == tensors.size());
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const auto& expected = tensors[i];
            const auto& info = file.tensors()[i];
            INFO("tensor " << expected["name"]);
            CHECK(info.name == expected["name"].get<std::string>());
            CHECK(static_cast<std::uint32_t>(info.type) == expected["type"].get<std::uint32_t>());
            CHECK(name_of(info.type) == expected["type_name"].get<std::string>());
            CHECK(info.ne == expected["ne"].get<std::vector<std::int64_t>>());
            CHECK(info.offset == expected["offset"].get<std::uint64_t>());
            CHECK(info.offset % 64 == 0);
            CHECK(info.bytes == expected["bytes"].get<std::uint64_t>());
            CHECK(file.find_tensor(info.name) == &info);
            CHECK(&file.require_tensor(info.name) == &info);

            const auto bytes = file.tensor_bytes(info);
            REQUIRE(bytes.size() == info.bytes);
            CHECK(bytes.data() == file.data().data() + info.offset);  // in place, in the mapping
            std::uint64_t sum = 0;
            for (std::byte b : bytes) sum += std::to_integer<std::uint64_t>(b);
            CHECK(sum == expected["sum"].get<std::uint64_t>());
            CHECK(fnv1a64(bytes) == expected["fnv1a64"].get<std::uint64_t>());
            CHECK(std::to_integer<int>(bytes.front()) == expected["first"].get<int>());
            CHECK(std::to_integer<int>(bytes.back()) == expected["last"].get<int>());
        }
        // Row-major shape is ne reversed.
        const auto& f16 = file.require_tensor("t.f16");
        CHECK(f16.ne == std::vector<std::int64_t>{4, 3, 2});
        CHECK(f16.shape() == std::vector<std::int64_t>{2, 3, 4});
        CHECK(f16.numel() == 24);
        CHECK(f16.type == moe::io::ggml_type::f16);
        const auto& q4k = file.require_tensor("t.q4_k");
        CHECK(q4k.type == moe::io::ggml_type::q4_k);
        CHECK(q4k.shape() == std::vector<std::int64_t>{2, 512});
        CHECK(q4k.bytes == 2 * 2 * 144);
        // The F32 values themselves, against gguf-py's first byte check above and a plain decode.
        const auto& f32 = file.require_tensor("t.f32");
        CHECK(f32.shape() == std::vector<std::int64_t>{3, 5});
        CHECK(file.find_tensor("absent") == nullptr);
        CHECK_THROWS_WITH(file.require_tensor("absent"), Contains("reference.gguf: missing tensor 'absent'"));
    }
}

TEST_CASE("gguf: huge_pages memory reads the same bytes", "[io][gguf]") {
    const moe::io::gguf_file mapped(data_dir + "/reference.gguf");
    const moe::io::gguf_file read(data_dir + "/reference.gguf", moe::io::file_memory::huge_pages);
    REQUIRE(read.tensors().size() == mapped.tensors().size());
    for (std::size_t i = 0; i < read.tensors().size(); ++i) {
        const auto a = mapped.tensor_bytes(mapped.tensors()[i]);
        const auto b = read.tensor_bytes(read.tensors()[i]);
        CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
    }
    CHECK(read.keys() == mapped.keys());
}

TEST_CASE("gguf: moving a gguf_file keeps tensors and values valid", "[io][gguf]") {
    moe::io::gguf_file file(data_dir + "/reference.gguf");
    const auto* info = file.find_tensor("t.q8_0");
    const auto bytes = file.tensor_bytes(*info);
    moe::io::gguf_file moved(std::move(file));
    CHECK(moved.find_tensor("t.q8_0") == info);
    CHECK(moved.tensor_bytes(*info).data() == bytes.data());
    CHECK(moved.string("test.string") == "Привет, 世界! 🚀");
}

TEST_CASE("gguf: typed access names the key, the expected and the actual type", "[io][gguf]") {
    const moe::io::gguf_file file(data_dir + "/reference.gguf");
    CHECK_THAT(error_of([&] { (void)file.integer("general.architecture"); }),
               Contains("reference.gguf: metadata 'general.architecture' is a string, expected an integer"));
    CHECK_THAT(error_of([&] { (void)file.string("test.uint32"); }),
               Contains("metadata 'test.uint32' is a uint32, expected a string"));
    CHECK_THAT(error_of([&] { (void)file.boolean("test.int8"); }), Contains("'test.int8' is an int8, expected a bool"));
    CHECK_THAT(error_of([&] { (void)file.number("test.string"); }), Contains("is a string, expected a number"));
    CHECK_THAT(error_of([&] { (void)file.integer("test.float32"); }), Contains("is a float32, expected an integer"));
    CHECK_THAT(error_of([&] { (void)file.string("test.array.string"); }),
               Contains("'test.array.string' is an array of string, expected a string"));
    CHECK_THAT(error_of([&] { (void)file.string_array("test.array.int32"); }),
               Contains("is an array of int32, expected an array of strings"));
    CHECK_THAT(error_of([&] { (void)file.number_array("test.array.string"); }),
               Contains("is an array of string, expected an array of numbers"));
    CHECK_THAT(error_of([&] { (void)file.integer_array("test.uint8"); }),
               Contains("is a uint8, expected an array of integers"));
    CHECK_THAT(error_of([&] { (void)file.integer("no.such.key"); }), Contains("reference.gguf: missing metadata 'no.such.key'"));
    // A uint64 of 2^53 + 1 is an integer, but not a number a double holds exactly.
    CHECK(file.integer("test.uint64") == (std::int64_t{1} << 53) + 1);
    CHECK_THAT(error_of([&] { (void)file.number("test.uint64"); }), Contains("a double cannot hold exactly"));
    // optional_*: absent → nullopt, present with the wrong type → the same error.
    CHECK_FALSE(file.optional_string("no.such.key").has_value());
    CHECK_FALSE(file.optional_integer("no.such.key").has_value());
    CHECK_FALSE(file.optional_number("no.such.key").has_value());
    CHECK_FALSE(file.optional_boolean("no.such.key").has_value());
    CHECK_FALSE(file.type_of("no.such.key").has_value());
    CHECK(file.optional_integer("test.uint16") == 65535);
    CHECK(file.optional_boolean("test.bool_true") == true);
    CHECK(file.optional_string("general.architecture") == "test");
    CHECK(file.optional_number("test.float64") == M_PI);
    CHECK_THROWS_WITH(file.optional_string("test.uint8"), Contains("is a uint8, expected a string"));
    CHECK_THROWS_WITH(file.optional_integer("test.string"), Contains("is a string, expected an integer"));
    // Each error is a gguf_error, a checkpoint_error and a moe::error.
    CHECK_THROWS_AS(file.integer("test.string"), moe::io::checkpoint_error);
    CHECK_THROWS_AS(file.integer("test.string"), moe::error);
}

TEST_CASE("gguf: hand-written files: version 2, empty arrays, a scalar tensor, no tensors", "[io][gguf]") {
    temp_dir dir;
    gguf_spec spec;
    spec.version = 2;  // same layout as 3
    spec.metadata = {kv_u32("a", 5), kv_array("empty", tag_uint8, 0, {}), kv_string("s", "x")};
    spec.tensors = {f32_tensor("w", {2, 3}), f32_tensor("scalar", {}), f32_tensor("empty", {0, 4})};
    write_bytes(dir / "v2.gguf", gguf_bytes(spec));
    const moe::io::gguf_file file(dir / "v2.gguf");
    CHECK(file.version() == 2);
    CHECK(file.alignment() == 32);
    CHECK(file.integer("a") == 5);
    CHECK(file.array_size("empty") == 0);
    CHECK(file.string_array("empty").empty());  // an empty array converts to every array type
    CHECK(file.integer_array("empty").empty());
    CHECK(file.number_array("empty").empty());
    const auto& scalar = file.require_tensor("scalar");  // n_dims 0, as llama.cpp accepts: one element
    CHECK(scalar.ne.empty());
    CHECK(scalar.numel() == 1);
    CHECK(scalar.bytes == 4);
    CHECK(scalar.offset == 32);
    const auto& empty = file.require_tensor("empty");
    CHECK(empty.numel() == 0);
    CHECK(empty.bytes == 0);
    CHECK(file.tensor_bytes(empty).empty());

    gguf_spec bare;  // no tensors: the data section is empty and starts right after the header
    bare.metadata = {kv_u32("only", 1)};
    write_bytes(dir / "bare.gguf", gguf_bytes(bare));
    const moe::io::gguf_file metadata_only(dir / "bare.gguf");
    CHECK(metadata_only.tensors().empty());
    CHECK(metadata_only.data().empty());
    CHECK(metadata_only.keys() == std::vector<std::string>{"only"});
}

TEST_CASE("gguf: the ggml type table matches gguf-py's GGML_QUANT_SIZES", "[io][gguf]") {
    const auto sizes = reference_json()["ggml_quant_sizes"];
    int known = 0;
    for (std::uint32_t id = 0; id < 64; ++id) {
        INFO("type id " << id);
        const auto info = moe::io::ggml_type_info_of(id);
        const auto it = sizes.find(std::to_string(id));
        if (id == 9) {
            // gguf-py 0.19 still lists Q8_1 as 40 bytes (the old fp32 d and s); ggml's block_q8_1 struct is two
            // fp16 + 32 int8 = 36 bytes, and llama.cpp's current gguf-py says 2 + 2 + 32 too.
            REQUIRE(info.has_value());
            CHECK(info->name == "Q8_1");
            CHECK(info->block_size == 32);
            CHECK(info->type_size == 36);
            ++known;
        } else if (it != sizes.end()) {
            REQUIRE(info.has_value());
            CHECK(info->name == (*it)[0].get<std::string>());
            CHECK(info->block_size == (*it)[1].get<std::int64_t>());
            CHECK(info->type_size == (*it)[2].get<std::int64_t>());
            ++known;
        } else if (id == 42) {
            // Q2_0 is newer than gguf-py 0.19: ggml's block_q2_0 struct is a fp16 scale + 64 2-bit values.
            REQUIRE(info.has_value());
            CHECK(info->name == "Q2_0");
            CHECK(info->block_size == 64);
            CHECK(info->type_size == 18);
        } else {
            CHECK_FALSE(info.has_value());  // removed (4, 5, 31–33, 36–38) or unknown
        }
    }
    CHECK(known == 34);
    CHECK(moe::io::ggml_type_info_of(0xffffffffu) == std::nullopt);
    CHECK(moe::io::name_of(moe::io::ggml_type::q6_k) == "Q6_K");
    CHECK(moe::io::name_of(moe::io::ggml_type::bf16) == "BF16");
}

TEST_CASE("gguf: is_gguf_file", "[io][gguf]") {
    temp_dir dir;
    CHECK(moe::io::is_gguf_file(data_dir + "/reference.gguf"));
    CHECK(moe::io::is_gguf_file(data_dir + "/big_endian.gguf"));  // the magic is the same; opening it refuses it
    CHECK_FALSE(moe::io::is_gguf_file(data_dir + "/reference.json"));
    CHECK_FALSE(moe::io::is_gguf_file(dir / "missing.gguf"));
    CHECK_FALSE(moe::io::is_gguf_file(dir.path()));  // a directory
    write_text(dir / "short.gguf", "GGU");
    CHECK_FALSE(moe::io::is_gguf_file(dir / "short.gguf"));
    write_text(dir / "magic_only.gguf", "GGUF");
    CHECK(moe::io::is_gguf_file(dir / "magic_only.gguf"));
    write_text(dir / "lower.gguf", "gguf and more");
    CHECK_FALSE(moe::io::is_gguf_file(dir / "lower.gguf"));
    REQUIRE(::mkfifo((dir / "fifo.gguf").c_str(), 0600) == 0);
    CHECK_FALSE(moe::io::is_gguf_file(dir / "fifo.gguf"));  // refused without opening (would block)
}

}  // namespace test_gguf_read
