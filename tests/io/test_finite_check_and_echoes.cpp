// io::require_finite on every floating dtype against hand-made bit patterns (NaN, ±inf, the largest finite value,
// subnormals), and file-controlled text echoed in checkpoint errors capped by moe::excerpt: a 2-million-character
// tensor name, a huge unknown dtype, a malformed JSON header quoting a megabyte-long string, an index naming a huge
// shard — each message stays short and still says what is wrong.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "moe/io.hpp"
#include "moe/io/finite_check.hpp"
#include "safetensors_writer.hpp"

namespace test_finite_check_and_echoes {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe_test;

namespace {

template <class Bits>
std::vector<std::byte> raw(std::initializer_list<Bits> values) {
    return bytes_of(std::vector<Bits>(values));
}

// Writes one tensor and runs require_finite on it; returns the message ("" when it passes).
std::string scan(const std::string& dtype, std::vector<std::int64_t> shape, std::vector<std::byte> bytes) {
    temp_dir dir;
    write_safetensors(dir / "t.safetensors", {{"w", dtype, std::move(shape), std::move(bytes)}});
    const moe::io::safetensors_file file(dir / "t.safetensors");
    try {
        moe::io::require_finite(file.require("w"));
    } catch (const moe::io::checkpoint_error& e) {
        return e.what();
    }
    return "";
}

std::string open_error(const std::filesystem::path& path) {
    try {
        const moe::io::checkpoint c(path);
    } catch (const moe::io::checkpoint_error& e) {
        return e.what();
    }
    return "no exception";
}

}  // namespace

TEST_CASE("require_finite: exponent all ones is refused in every floating dtype", "[io][non_finite]") {
    // bf16: 0x7F80 inf, 0xFF80 -inf, 0x7FC1 NaN; 0x7F7F largest finite, 0x0001 subnormal.
    CHECK(scan("BF16", {2, 3}, raw<std::uint16_t>({0x3F80, 0x7F7F, 0x0001, 0x8001, 0xFF7F, 0x0000})).empty());
    const std::string bf = scan("BF16", {2, 3}, raw<std::uint16_t>({0x3F80, 0x7F7F, 0x0001, 0x7FC1, 0xFF80, 0x0000}));
    CHECK(bf.find("tensor 'w': 2 of 6 values are NaN or infinite (first at element 3, row 1 column 0)") != std::string::npos);
    // f16: 0x7C00 inf, 0x7E00 NaN; 0x7BFF largest finite.
    CHECK(scan("F16", {4}, raw<std::uint16_t>({0x7BFF, 0xFBFF, 0x0001, 0x3C00})).empty());
    CHECK(scan("F16", {4}, raw<std::uint16_t>({0x7BFF, 0x7E00, 0x0001, 0x3C00})).find("1 of 4 values") != std::string::npos);
    // f32 and f64.
    CHECK(scan("F32", {3}, raw<std::uint32_t>({0x7F7FFFFF, 0x00000001, 0x3F800000})).empty());
    CHECK(scan("F32", {3}, raw<std::uint32_t>({0x7F7FFFFF, 0x00000001, 0xFF800000})).find("element 2") != std::string::npos);
    CHECK(scan("F64", {2}, raw<std::uint64_t>({0x7FEFFFFFFFFFFFFFull, 0x3FF0000000000000ull})).empty());
    CHECK(scan("F64", {2}, raw<std::uint64_t>({0x7FF8000000000000ull, 0x3FF0000000000000ull})).find("1 of 2") != std::string::npos);
    // Integer tensors pass: 0xFFFF is a perfectly good I16.
    CHECK(scan("I16", {2}, raw<std::uint16_t>({0xFFFF, 0x7F80})).empty());
}

TEST_CASE("a 2-million-character tensor name is echoed capped", "[io][echo]") {
    temp_dir dir;
    const std::string name(2'000'000, 'n');
    // Entry with a missing dtype: the error names the tensor.
    write_raw(dir / "long.safetensors", "{\"" + name + "\": {\"shape\": [1], \"data_offsets\": [0, 4]}}",
              std::vector<std::byte>(4));
    const std::string m = open_error(dir / "long.safetensors");
    INFO(m.substr(0, 300));
    CHECK(m.size() < 400);
    CHECK(m.find("…(2000000 bytes)") != std::string::npos);
    CHECK(m.find("missing 'dtype'") != std::string::npos);

    // A tensor name with control bytes is escaped, so a message stays one line.
    write_raw(dir / "ctl.safetensors", R"({"a\u001b[2Jb": {"dtype": "X", "shape": [1], "data_offsets": [0, 4]}})",
              std::vector<std::byte>(4));
    const std::string c = open_error(dir / "ctl.safetensors");
    CHECK(c.find("a\\x1b[2Jb") != std::string::npos);
    CHECK(c.find('\x1b') == std::string::npos);
}

TEST_CASE("huge dtype strings, JSON errors and shard names are capped", "[io][echo]") {
    temp_dir dir;
    const std::string huge(1'000'000, 'D');
    write_raw(dir / "dtype.safetensors", "{\"w\": {\"dtype\": \"" + huge + "\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
              std::vector<std::byte>(4));
    const std::string d = open_error(dir / "dtype.safetensors");
    CHECK(d.size() < 400);
    CHECK(d.find("unknown dtype") != std::string::npos);

    // An unterminated megabyte-long string: nlohmann's message quotes what it read.
    write_raw(dir / "json.safetensors", "{\"" + huge, {});
    const std::string j = open_error(dir / "json.safetensors");
    INFO(j.substr(0, 300));
    CHECK(j.size() < 600);
    CHECK(j.find("malformed JSON header") != std::string::npos);

    // An index naming a megabyte-long shard.
    write_text(dir / "model.safetensors.index.json", "{\"weight_map\": {\"w\": \"" + huge + "\"}}");
    const std::string s = open_error(dir.path());
    INFO(s.substr(0, 300));
    CHECK(s.size() < 1200);
    CHECK(s.find("tensor 'w': shard '") != std::string::npos);
}

// The 8-bytes-at-a-time count against a plain per-element loop, on random bit patterns of every width and length.
template <class Bits, Bits exponent>
void check_against_plain_loop() {
    std::mt19937_64 random(1);
    for (int rep = 0; rep < 2000; ++rep) {
        const std::size_t n = random() % 67;
        std::vector<Bits> v(n);
        for (auto& x : v) {
            x = Bits(random());
            if (random() % 3 == 0) x |= exponent;
        }
        std::int64_t plain = 0, plain_first = -1;
        for (std::size_t i = 0; i < n; ++i) {
            if ((v[i] & exponent) != exponent) continue;
            if (plain_first < 0) plain_first = std::int64_t(i);
            ++plain;
        }
        std::int64_t first = -1;
        const auto bad = moe::io::detail::count_non_finite<Bits, exponent>(
            reinterpret_cast<const std::byte*>(v.data()), std::int64_t(n), first);
        REQUIRE(bad == plain);
        if (plain > 0) REQUIRE(first == plain_first);
    }
}

TEST_CASE("require_finite: the word-at-a-time count equals a plain loop", "[io][non_finite]") {
    check_against_plain_loop<std::uint16_t, 0x7F80>();
    check_against_plain_loop<std::uint16_t, 0x7C00>();
    check_against_plain_loop<std::uint32_t, 0x7F800000u>();
    check_against_plain_loop<std::uint64_t, 0x7FF0000000000000ull>();
}

}  // namespace test_finite_check_and_echoes
