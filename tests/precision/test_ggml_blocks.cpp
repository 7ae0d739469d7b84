// llama.cpp's Q4_0, Q5_0, Q4_K, Q5_K, Q6_K and Q8_K blocks (precision/ggml_blocks.hpp, ggml_quantizers.hpp) against
// llama.cpp: the layouts against ggml-common.h's offsets, the dequantizers bit for bit against gguf-py's
// (tests/data/kquants/dequant_*), the weight quantizers and the Q8_K activation quantizer bit for bit against
// ggml-quants.c's quantize_row_*_ref (quant_*.bin, made by tools/make_kquant_reference.py; Q4_0 and Q5_0 also
// equal gguf-py's), the traits' numbers, and the round-trip error of each format on random rows within a stated bound.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "moe/config/precision.hpp"
#include "moe/io/dtype.hpp"
#include "moe/precision/ggml_blocks.hpp"
#include "moe/precision/ggml_quantizers.hpp"

namespace test_ggml_blocks {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe::weight_format;

// ---- layouts: ggml-common.h's field offsets ----
static_assert(offsetof(moe::q4_0_block, qs) == 2);
static_assert(offsetof(moe::q5_0_block, qh) == 2 && offsetof(moe::q5_0_block, qs) == 6);
static_assert(offsetof(moe::q4_k_block, dmin) == 2 && offsetof(moe::q4_k_block, scales) == 4 &&
              offsetof(moe::q4_k_block, qs) == 16);
static_assert(offsetof(moe::q5_k_block, scales) == 4 && offsetof(moe::q5_k_block, qh) == 16 &&
              offsetof(moe::q5_k_block, qs) == 48);
static_assert(offsetof(moe::q6_k_block, qh) == 128 && offsetof(moe::q6_k_block, scales) == 192 &&
              offsetof(moe::q6_k_block, d) == 208);
static_assert(offsetof(moe::q8_k_block, qs) == 4 && offsetof(moe::q8_k_block, bsums) == 260);
static_assert(std::is_trivially_copyable_v<moe::q4_k_block> && std::is_trivially_copyable_v<moe::q8_k_block>);

// ---- traits: the numbers the configs and the ledger read ----
static_assert(moe::name_of(weight_format::q4_0) == "q4_0" && moe::name_of(weight_format::q4_k) == "q4_k" &&
              moe::name_of(weight_format::q5_k) == "q5_k" && moe::name_of(weight_format::q6_k) == "q6_k");
static_assert(moe::block_width_of(weight_format::q4_0) == 32 && moe::block_width_of(weight_format::q4_k) == 256 &&
              moe::block_width_of(weight_format::q5_k) == 256 && moe::block_width_of(weight_format::q6_k) == 256);
static_assert(moe::bytes_per_weight(weight_format::q4_0) == 18.0 / 32 &&
              moe::bytes_per_weight(weight_format::q4_k) == 144.0 / 256 &&
              moe::bytes_per_weight(weight_format::q5_k) == 176.0 / 256 &&
              moe::bytes_per_weight(weight_format::q6_k) == 210.0 / 256);
static_assert(moe::weight_bytes(weight_format::q6_k, 4096) == 16 * 210);
static_assert(moe::bytes_per_vector_element(weight_format::q4_k) == 4.0);
static_assert(moe::fits_blocks<weight_format::q4_k>(512) && !moe::fits_blocks<weight_format::q4_k>(96) &&
              moe::fits_blocks<weight_format::q4_0>(96));
static_assert(moe::name_of(weight_format::q5_0) == "q5_0" && moe::block_width_of(weight_format::q5_0) == 32 &&
              moe::bytes_per_weight(weight_format::q5_0) == 22.0 / 32 &&
              moe::format_of_storage<moe::q5_0_block> == weight_format::q5_0 &&
              moe::weight_format_traits<weight_format::q5_0>::cpu && !moe::weight_format_traits<weight_format::q5_0>::cuda);
static_assert(moe::format_of_storage<moe::q4_0_block> == weight_format::q4_0 &&
              moe::format_of_storage<moe::q4_k_block> == weight_format::q4_k &&
              moe::format_of_storage<moe::q5_k_block> == weight_format::q5_k &&
              moe::format_of_storage<moe::q6_k_block> == weight_format::q6_k);
static_assert(!moe::is_weight_storage_v<moe::q8_k_block>, "Q8_K is an activation format, not a weight format");
static_assert(std::is_same_v<moe::vector_storage_t<weight_format::q5_k>, float>);
static_assert(moe::weight_format_traits<weight_format::q4_0>::cpu && moe::weight_format_traits<weight_format::q6_k>::cpu &&
              !moe::weight_format_traits<weight_format::q4_k>::cuda && !moe::weight_format_traits<weight_format::q4_0>::cuda);
// Quantized at load from float checkpoints: no safetensors dtype of their own.
static_assert(moe::io::dtype_of(weight_format::q4_0) == moe::io::dtype::f32 &&
              moe::io::dtype_of(weight_format::q4_k) == moe::io::dtype::f32 &&
              moe::io::dtype_of(weight_format::q6_k) == moe::io::dtype::f32);

std::vector<char> read_file(const std::string& name) {
    std::ifstream in(std::string(MOE_TEST_DATA_DIR) + "/kquants/" + name, std::ios::binary);
    INFO(name);
    REQUIRE(in.good());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class Block>
std::vector<Block> read_blocks(const std::string& name) {
    const auto bytes = read_file(name);
    REQUIRE(bytes.size() % sizeof(Block) == 0);
    std::vector<Block> blocks(bytes.size() / sizeof(Block));
    std::memcpy(blocks.data(), bytes.data(), bytes.size());
    return blocks;
}

std::vector<float> read_floats(const std::string& name) {
    const auto bytes = read_file(name);
    REQUIRE(bytes.size() % 4 == 0);
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), bytes.size());
    return v;
}

// Blocks read from `blocks_file` dequantize to exactly the floats of `floats_file` (gguf-py's).
template <class Block, class Dequantize>
void check_dequantize(const std::string& type, Dequantize dequantize) {
    const auto blocks = read_blocks<Block>("dequant_" + type + ".bin");
    const auto expected = read_floats("dequant_" + type + ".f32");
    const std::int64_t k = static_cast<std::int64_t>(blocks.size()) * moe::weights_per_element<Block>;
    REQUIRE(static_cast<std::int64_t>(expected.size()) == k);
    std::vector<float> got(static_cast<std::size_t>(k));
    dequantize(blocks.data(), k, got.data());
    int mismatches = 0;
    for (std::int64_t i = 0; i < k; ++i) {
        const auto i_ = static_cast<std::size_t>(i);
        if (std::bit_cast<std::uint32_t>(got[i_]) != std::bit_cast<std::uint32_t>(expected[i_])) {
            if (++mismatches <= 5) {
                INFO(type << " value " << i << " (block " << i / moe::weights_per_element<Block> << "): got " << got[i_]
                          << ", gguf-py " << expected[i_]);
                CHECK(false);
            }
        }
    }
    CHECK(mismatches == 0);
}

// quantize(input.f32) gives exactly the blocks of `quant_<type>.bin` (ggml-quants.c's).
template <class Block, class Quantize>
void check_quantize(const std::string& type, Quantize quantize) {
    const auto x = read_floats("input.f32");
    const auto expected = read_blocks<Block>("quant_" + type + ".bin");
    const std::int64_t k = static_cast<std::int64_t>(x.size());
    REQUIRE(k % moe::qk_k == 0);
    REQUIRE(static_cast<std::int64_t>(expected.size()) == k / moe::weights_per_element<Block>);
    std::vector<Block> got(expected.size());
    std::memset(got.data(), 0xA5, got.size() * sizeof(Block));  // every byte must be written
    quantize(x.data(), k, got.data());
    for (std::size_t b = 0; b < got.size(); ++b) {
        INFO(type << " block " << b << " (input row " << b * moe::weights_per_element<Block> / moe::qk_k << ")");
        CHECK(std::memcmp(&got[b], &expected[b], sizeof(Block)) == 0);
    }
}

// The error of dequantize(quantize(x)) on random rows (normal, laplace, uniform, outliers; magnitudes 2^-8 … 2^6),
// measured per super-block of 256 against the block's largest |x|: the largest relative to `max_bound`, and the
// root mean square error relative to the rms of x over all rows to `rms_bound`.
template <weight_format Format>
void check_round_trip(double max_bound, double rms_bound) {
    using traits = moe::weight_format_traits<Format>;
    constexpr std::int64_t k = 1024, rows = 64;
    std::mt19937_64 rng(1400 + static_cast<int>(Format));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::exponential_distribution<float> exponential(1.0f);
    double worst = 0, err2 = 0, x2 = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
        std::vector<float> x(k), back(k);
        const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 15) - 8);
        for (std::int64_t i = 0; i < k; ++i) {
            float v = r % 4 == 0 ? normal(rng)
                      : r % 4 == 1 ? exponential(rng) * (rng() % 2 ? 1.0f : -1.0f)  // laplace
                      : r % 4 == 2 ? uniform(rng)
                                   : normal(rng) * (rng() % 64 == 0 ? 20.0f : 1.0f);  // outliers
            x[static_cast<std::size_t>(i)] = v * scale;
        }
        std::vector<typename traits::storage> row(static_cast<std::size_t>(k / traits::block_width));
        traits::quantize_row(x.data(), k, row.data());
        traits::read_row(row.data(), k, back.data());
        for (std::int64_t s = 0; s < k; s += moe::qk_k) {
            double amax = 0, err = 0;
            for (std::int64_t i = s; i < s + moe::qk_k; ++i) {
                const auto i_ = static_cast<std::size_t>(i);
                const double e = std::abs(double(back[i_]) - double(x[i_]));
                amax = std::max(amax, std::abs(double(x[i_])));
                err = std::max(err, e);
                err2 += e * e;
                x2 += double(x[i_]) * double(x[i_]);
            }
            worst = std::max(worst, err / amax);
        }
    }
    const double rms = std::sqrt(err2 / x2);
    INFO(moe::name_of(Format) << ": max |error| / amax " << worst << ", rms error / rms " << rms);
    CHECK(worst <= max_bound);
    CHECK(rms <= rms_bound);
}

}  // namespace

TEST_CASE("get_scale_min_k4 unpacks the 6-bit scales and mins as gguf-py's Q4_K.get_scale_min", "[ggml_blocks]") {
    // gguf-py's vectorised unpacking, written out: bytes 0-3 d, 4-7 m, 8-11 m_d.
    std::mt19937_64 rng(3);
    for (int trial = 0; trial < 2000; ++trial) {
        std::uint8_t q[12];
        for (auto& b : q) b = static_cast<std::uint8_t>(trial < 2 ? (trial == 0 ? 0xFF : 0x00) : rng());
        for (int j = 0; j < 8; ++j) {
            const int want_sc = j < 4 ? q[j] & 0x3F : (q[8 + j - 4] & 0x0F) | ((q[j - 4] >> 2) & 0x30);
            const int want_m = j < 4 ? q[4 + j] & 0x3F : (q[8 + j - 4] >> 4) | ((q[4 + j - 4] >> 2) & 0x30);
            std::uint8_t sc = 0, m = 0;
            moe::get_scale_min_k4(j, q, sc, m);
            REQUIRE(int(sc) == want_sc);
            REQUIRE(int(m) == want_m);
        }
    }
}

TEST_CASE("the dequantizers give gguf-py's floats bit for bit", "[ggml_blocks]") {
    check_dequantize<moe::q4_0_block>("q4_0", moe::dequantize_row_q4_0);
    check_dequantize<moe::q5_0_block>("q5_0", moe::dequantize_row_q5_0);
    check_dequantize<moe::q4_k_block>("q4_K", moe::dequantize_row_q4_k);
    check_dequantize<moe::q5_k_block>("q5_K", moe::dequantize_row_q5_k);
    check_dequantize<moe::q6_k_block>("q6_K", moe::dequantize_row_q6_k);
}

TEST_CASE("the weight quantizers write ggml's quantize_row_*_ref bytes", "[ggml_blocks]") {
    check_quantize<moe::q4_0_block>("q4_0", moe::quantize_row_q4_0);  // also gguf-py's bytes
    check_quantize<moe::q5_0_block>("q5_0", moe::quantize_row_q5_0);  // also gguf-py's bytes
    check_quantize<moe::q4_k_block>("q4_K", moe::quantize_row_q4_k);
    check_quantize<moe::q5_k_block>("q5_K", moe::quantize_row_q5_k);
    check_quantize<moe::q6_k_block>("q6_K", moe::quantize_row_q6_k);
}

TEST_CASE("the Q8_K activation quantizer writes x86 llama.cpp's quantize_row_q8_K bytes", "[ggml_blocks]") {
    check_quantize<moe::q8_k_block>("q8_K", moe::quantize_row_q8_k);

    // The formula on a block built for it: the value of largest magnitude is −127, so iscale = −127 / −127 = 1 and
    // d = 1: q = round-half-even(x), exact .5 ties included (roundf would give 3, −4, 127).
    std::vector<float> x(256, 0.0f);
    x[0] = -127.0f;
    x[1] = 2.5f;
    x[2] = -3.5f;
    x[3] = 126.5f;
    x[17] = 100.0f;
    moe::q8_k_block q{};
    moe::quantize_row_q8_k(x.data(), 256, &q);
    CHECK(q.d == 1.0f);
    CHECK(int(q.qs[0]) == -127);
    CHECK(int(q.qs[1]) == 2);
    CHECK(int(q.qs[2]) == -4);
    CHECK(int(q.qs[3]) == 126);
    CHECK(int(q.qs[17]) == 100);
    // A positive extreme flips the sign of iscale and d: d · q still equals x.
    for (float& v : x) v = -v;
    moe::quantize_row_q8_k(x.data(), 256, &q);
    CHECK(q.d == -1.0f);
    CHECK(int(q.qs[0]) == -127);
    CHECK(int(q.qs[1]) == 2);
    for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int i = 0; i < 16; ++i) sum += q.qs[16 * g + i];
        CHECK(int(q.bsums[g]) == sum);
    }
    // An all-zero block: d = 0, values and sums 0.
    std::vector<float> zeros(256, 0.0f);
    std::memset(&q, 0x5A, sizeof(q));
    moe::quantize_row_q8_k(zeros.data(), 256, &q);
    CHECK(q.d == 0.0f);
    for (int i = 0; i < 256; ++i) CHECK(int(q.qs[i]) == 0);
    for (int g = 0; g < 16; ++g) CHECK(int(q.bsums[g]) == 0);
}

TEST_CASE("dequantize(quantize(x)) stays within each format's bound", "[ggml_blocks]") {
    // Bounds, per super-block of 256 relative to its largest |x| (measured values beside each line):
    //   q4_0: a value opposite in sign to the block's extreme can sit one step beyond the grid's 7·|d| end: |d| =
    //         amax / 8, plus the fp16 rounding of d (2^-11 relative, ×8 steps) → amax / 8 · 1.01.
    //   q5_0: the same with 32 levels: one step beyond the grid's 15·|d| end, |d| = amax / 16 → amax / 16 · 1.01.
    //   K-quants: no closed form (searched scales, 6-bit sub-block scales); the bounds are about 1.4× the largest
    //   error measured over these rows, and the rms bounds about 1.3× the measured rms.
    check_round_trip<weight_format::q4_0>(1.01 / 8, 0.15);  // measured 0.1247, rms 0.119
    check_round_trip<weight_format::q5_0>(1.01 / 16, 0.095);  // measured 0.0625, rms 0.0752
    check_round_trip<weight_format::q4_k>(0.14, 0.11);      // measured 0.0952, rms 0.0873
    check_round_trip<weight_format::q5_k>(0.07, 0.055);     // measured 0.0462, rms 0.0431
    check_round_trip<weight_format::q6_k>(0.045, 0.03);     // measured 0.0316, rms 0.0232
}

TEST_CASE("edge-case rows quantize to finite blocks, and blocks do not influence each other", "[ggml_blocks]") {
    // The reference rows (zeros, constants, 1e-20, 2e4, outliers, …) dequantize to finite values.
    const auto x = read_floats("input.f32");
    const auto k = static_cast<std::int64_t>(x.size());
    std::vector<float> back(x.size());
    std::vector<moe::q4_k_block> b4(static_cast<std::size_t>(k / 256));
    moe::quantize_row_q4_k(x.data(), k, b4.data());
    moe::dequantize_row_q4_k(b4.data(), k, back.data());
    CHECK(std::all_of(back.begin(), back.end(), [](float v) { return std::isfinite(v); }));
    std::vector<moe::q6_k_block> b6(static_cast<std::size_t>(k / 256));
    moe::quantize_row_q6_k(x.data(), k, b6.data());
    moe::dequantize_row_q6_k(b6.data(), k, back.data());
    CHECK(std::all_of(back.begin(), back.end(), [](float v) { return std::isfinite(v); }));
    // Zero rows stay zero.
    std::vector<float> zeros(256, 0.0f), z(256, 1.0f);
    moe::q5_k_block zero_block;
    moe::quantize_row_q5_k(zeros.data(), 256, &zero_block);
    moe::dequantize_row_q5_k(&zero_block, 256, z.data());
    CHECK(std::all_of(z.begin(), z.end(), [](float v) { return v == 0.0f; }));

    // A NaN or an infinity in one block gives defined bytes (no undefined float → int conversion: the sanitizer
    // preset checks) and leaves the next block as it is alone.
    std::vector<float> row(512);
    std::mt19937_64 rng(9);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : row) v = normal(rng);
    for (const float bad : {std::nanf(""), INFINITY, -INFINITY}) {
        row[7] = bad;
        moe::q4_k_block two[2], alone;
        moe::quantize_row_q4_k(row.data(), 512, two);
        moe::quantize_row_q4_k(row.data() + 256, 256, &alone);
        CHECK(std::memcmp(&two[1], &alone, sizeof(alone)) == 0);
        moe::q5_k_block f5[2];
        moe::quantize_row_q5_k(row.data(), 512, f5);
        moe::q6_k_block f6[2];
        moe::quantize_row_q6_k(row.data(), 512, f6);
        moe::q8_k_block f8[2];
        moe::quantize_row_q8_k(row.data(), 512, f8);
        moe::q4_0_block f0[16];
        moe::quantize_row_q4_0(row.data(), 512, f0);
        moe::q4_0_block f0_alone;
        moe::quantize_row_q4_0(row.data() + 32, 32, &f0_alone);
        CHECK(std::memcmp(&f0[1], &f0_alone, sizeof(f0_alone)) == 0);
    }
}

}  // namespace test_ggml_blocks
