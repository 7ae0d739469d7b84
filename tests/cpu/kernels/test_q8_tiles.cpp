// weight_format::q8_0: the weight quantizer against gguf-py's bytes (tests/data/q8_0, made by
// tools/make_q8_0_reference.py), the activation quantizer against its formula, the decode tiles
// (kernels::q8_dot_product_block) and the prefill GEMM tiles (kernels::q8_gemm_block_transposed) bit for bit
// against their plain-loop definitions, the compiled SIMD path (VNNI or AVX2, kernels::q8_dot_path) against the
// portable loop, and both against a double-precision dot product of the dequantized operands; weight bytes of −128
// and activation bytes of ±127 (the edges of the AVX2 sign trick) included.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "moe/cpu/kernels/q8_dot_tiles.hpp"
#include "moe/cpu/kernels/q8_gemm_tiles.hpp"
#include "moe/cpu/linear.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "moe/precision/q8_0.hpp"

namespace test_q8_tiles {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

namespace kernels = moe::cpu::kernels;
using moe::q8_0_block;

std::vector<char> read_file(const std::string& name) {
    std::ifstream in(std::string(MOE_TEST_DATA_DIR) + "/q8_0/" + name, std::ios::binary);
    REQUIRE(in.good());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Values with per-row magnitudes from 1e-3 to 10, random signs.
std::vector<float> random_floats(std::int64_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(n));
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 14) - 10);
    for (auto& x : v) x = normal(rng) * scale;
    return v;
}

std::vector<q8_0_block> quantized(const std::vector<float>& w, std::int64_t rows, std::int64_t k) {
    std::vector<q8_0_block> blocks(static_cast<std::size_t>(rows * k / 32));
    for (std::int64_t r = 0; r < rows; ++r) moe::quantize_q8_0_row(w.data() + r * k, k, blocks.data() + r * k / 32);
    return blocks;
}

double dequantized_dot(const std::int8_t* xq, const float* xs, const q8_0_block* w, std::int64_t k) {
    double s = 0;
    for (std::int64_t d = 0; d < k; ++d)
        s += double(xs[d / 32]) * xq[d] * double(w[d / 32].scale()) * w[d / 32].q[d % 32];
    return s;
}

}  // namespace

TEST_CASE("the Q8_0 weight quantizer writes gguf-py's bytes", "[q8_0]") {
    const auto input = read_file("input.f32");
    const auto expected = read_file("q8_0.bin");
    const auto dequantized = read_file("dequantized.f32");
    const std::int64_t k = 96, rows = static_cast<std::int64_t>(input.size() / sizeof(float)) / k;
    REQUIRE(rows * k * 4 == static_cast<std::int64_t>(input.size()));
    REQUIRE(expected.size() == static_cast<std::size_t>(rows * k / 32 * 34));
    std::vector<float> x(static_cast<std::size_t>(rows * k));
    std::memcpy(x.data(), input.data(), input.size());
    const auto blocks = quantized(x, rows, k);
    REQUIRE(blocks.size() == static_cast<std::size_t>(rows * k / 32));
    for (std::size_t b = 0; b < blocks.size(); ++b) {
        INFO("block " << b);
        CHECK(std::memcmp(&blocks[b], expected.data() + 34 * b, 34) == 0);
    }
    std::vector<float> back(static_cast<std::size_t>(rows * k));
    for (std::int64_t r = 0; r < rows; ++r) moe::dequantize_q8_0_row(blocks.data() + r * k / 32, k, back.data() + r * k);
    for (std::size_t i = 0; i < back.size(); ++i) {
        float want;
        std::memcpy(&want, dequantized.data() + 4 * i, 4);
        INFO("value " << i);
        CHECK(std::bit_cast<std::uint32_t>(back[i]) == std::bit_cast<std::uint32_t>(want));
    }
}

TEST_CASE("the Q8_0 activation quantizer follows llama.cpp's x86 formula", "[q8_0]") {
    // 127 / amax scaling and round-half-even: the tie 2.5 → 2 where the weight quantizer (half away) gives 3.
    std::vector<float> x(32, 0.0f);
    x[0] = 127.0f;  // amax = 127, id = 1
    x[1] = 2.5f;
    x[2] = -3.5f;
    x[3] = 1e-3f;
    std::int8_t q[32];
    float scale;
    moe::quantize_q8_0_activations(x.data(), 32, q, &scale);
    CHECK(scale == 1.0f);
    CHECK(int(q[0]) == 127);
    CHECK(int(q[1]) == 2);
    CHECK(int(q[2]) == -4);
    CHECK(int(q[3]) == 0);
    q8_0_block w;
    moe::quantize_q8_0_row(x.data(), 32, &w);
    CHECK(int(w.q[1]) == 3);
    CHECK(int(w.q[2]) == -4);
    // An all-zero block: scale 0, no division by zero; a NaN quantizes to 0 (defined, not an undefined cast) and
    // does not change the other values' scale.
    std::vector<float> zeros(32, 0.0f);
    moe::quantize_q8_0_activations(zeros.data(), 32, q, &scale);
    CHECK(scale == 0.0f);
    for (int i = 0; i < 32; ++i) CHECK(int(q[i]) == 0);
    x[5] = std::nanf("");
    moe::quantize_q8_0_activations(x.data(), 32, q, &scale);
    CHECK(scale == 1.0f);
    CHECK(int(q[5]) == 0);
    CHECK(int(q[0]) == 127);
    moe::quantize_q8_0_row(x.data(), 32, &w);
    CHECK(int(w.q[5]) == 0);
}

TEST_CASE("Q8_0 decode tiles equal their definition bit for bit", "[q8_0]") {
    for (std::int64_t k : {32, 96, 1024})
        for (std::int64_t tokens : {1, 2, 3, 4, 5, 7})
            for (std::int64_t rows : {1, 4, 6, 13}) {
                const auto seed = static_cast<std::uint64_t>(tokens * 1000 + rows * 10 + k);
                const auto x = random_floats(tokens * k, 1 + seed);
                const auto w = quantized(random_floats(rows * k, 2 + seed), rows, k);
                kernels::q8_tokens xq;
                kernels::quantize_tokens_q8_0(x.data(), k, tokens, k, xq);
                const std::int64_t stride = rows + 3;
                for (bool portable : {false, true}) {
                    std::vector<float> out(static_cast<std::size_t>(tokens * stride), -123.0f);
                    kernels::q8_dot_product_block(xq, tokens, w.data(), k / 32, rows, out.data(), stride, portable);
                    for (std::int64_t t = 0; t < tokens; ++t)
                        for (std::int64_t r = 0; r < rows; ++r) {
                            INFO("k " << k << " tokens " << tokens << " rows " << rows << " portable " << portable);
                            const float got = out[static_cast<std::size_t>(t * stride + r)];
                            const float want =
                                kernels::q8_dot_product_reference(xq.q_of(t), xq.scales_of(t), w.data() + r * k / 32, k);
                            REQUIRE(std::bit_cast<std::uint32_t>(got) == std::bit_cast<std::uint32_t>(want));
                            const double exact = dequantized_dot(xq.q_of(t), xq.scales_of(t), w.data() + r * k / 32, k);
                            REQUIRE(std::fabs(got - exact) <= 1e-5 * (1.0 + std::fabs(exact)) * std::sqrt(double(k)));
                        }
                    // Columns past `rows` are untouched.
                    for (std::int64_t t = 0; t < tokens; ++t) REQUIRE(out[static_cast<std::size_t>(t * stride + rows)] == -123.0f);
                }
            }
}

TEST_CASE("Q8_0 GEMM tiles equal their definition bit for bit", "[q8_0]") {
    for (std::int64_t k : {32, 160, 1024})
        for (std::int64_t tokens : {5, 8, 9, 16, 17, 32, 40, 70})
            for (std::int64_t rows : {1, 5, 8, 64}) {
                const auto seed = static_cast<std::uint64_t>(tokens * 1000 + rows * 10 + k);
                const auto x = random_floats(tokens * k, 3 + seed);
                const auto w = quantized(random_floats(rows * k, 4 + seed), rows, k);
                const std::int64_t np = kernels::padded_tokens(tokens);
                std::vector<std::uint32_t> xp(static_cast<std::size_t>(kernels::q8_packed_rows(k) * np));
                kernels::pack_q8_0(x.data(), k, tokens, k, xp.data());
                kernels::q8_tokens xq;  // the same quantization, unpacked, for the definition
                kernels::quantize_tokens_q8_0(x.data(), k, tokens, k, xq);
                for (bool portable : {false, true}) {
                    std::vector<float> ct(static_cast<std::size_t>(rows * np), -123.0f);
                    kernels::q8_gemm_block_transposed(xp.data(), np, w.data(), k / 32, rows, k, ct.data(), portable);
                    for (std::int64_t r = 0; r < rows; ++r)
                        for (std::int64_t t = 0; t < np; ++t) {
                            INFO("k " << k << " tokens " << tokens << " rows " << rows << " t " << t << " portable "
                                      << portable);
                            const float got = ct[static_cast<std::size_t>(r * np + t)];
                            const float want = t < tokens ? kernels::q8_gemm_reference(xq.q_of(t), xq.scales_of(t),
                                                                                       w.data() + r * k / 32, k)
                                                          : 0.0f;
                            REQUIRE(std::bit_cast<std::uint32_t>(got) == std::bit_cast<std::uint32_t>(want));
                        }
                }
            }
}

// Weight blocks of arbitrary bytes (a GGUF file may hold −128, which the quantizer never writes) and activations
// whose quantized bytes reach ±127: the largest products the SIMD paths must carry without wrapping or saturating.
TEST_CASE("Q8_0 tiles are exact at the byte extremes", "[q8_0]") {
    const std::int64_t k = 256, rows = 9, tokens = 17;
    std::mt19937_64 rng(77);
    std::vector<q8_0_block> w(static_cast<std::size_t>(rows * k / 32));
    for (std::size_t i = 0; i < w.size(); ++i) {
        w[i].scale_bits = moe::float16::from_float(std::ldexp(1.0f, static_cast<int>(rng() % 8) - 6));
        for (int j = 0; j < 32; ++j) {  // mostly −128 / 127 / −127, some random bytes
            const auto pick = rng() % 4;
            w[i].q[j] = pick == 0 ? std::int8_t(-128) : pick == 1 ? std::int8_t(127)
                      : pick == 2 ? std::int8_t(-127) : static_cast<std::int8_t>(rng());
        }
    }
    std::vector<float> x(static_cast<std::size_t>(tokens * k));
    for (auto& v : x) v = (rng() % 2 ? 1.0f : -1.0f) * (rng() % 5 ? 1.0f : 0.25f);  // amax 1: bytes ±127 (and ±32)
    kernels::q8_tokens xq;
    kernels::quantize_tokens_q8_0(x.data(), k, tokens, k, xq);
    const std::int64_t np = kernels::padded_tokens(tokens);
    std::vector<std::uint32_t> xp(static_cast<std::size_t>(kernels::q8_packed_rows(k) * np));
    kernels::pack_q8_0(x.data(), k, tokens, k, xp.data());
    INFO("path " << static_cast<int>(kernels::q8_dot_path));
    for (bool portable : {false, true}) {
        std::vector<float> out(static_cast<std::size_t>(tokens * rows));
        kernels::q8_dot_product_block(xq, tokens, w.data(), k / 32, rows, out.data(), rows, portable);
        std::vector<float> ct(static_cast<std::size_t>(rows * np));
        kernels::q8_gemm_block_transposed(xp.data(), np, w.data(), k / 32, rows, k, ct.data(), portable);
        for (std::int64_t t = 0; t < tokens; ++t)
            for (std::int64_t r = 0; r < rows; ++r) {
                INFO("portable " << portable << " t " << t << " r " << r);
                const q8_0_block* wr = w.data() + r * k / 32;
                const float dot = kernels::q8_dot_product_reference(xq.q_of(t), xq.scales_of(t), wr, k);
                const float gemm = kernels::q8_gemm_reference(xq.q_of(t), xq.scales_of(t), wr, k);
                REQUIRE(std::bit_cast<std::uint32_t>(out[static_cast<std::size_t>(t * rows + r)]) ==
                        std::bit_cast<std::uint32_t>(dot));
                REQUIRE(std::bit_cast<std::uint32_t>(ct[static_cast<std::size_t>(r * np + t)]) ==
                        std::bit_cast<std::uint32_t>(gemm));
                const double exact = dequantized_dot(xq.q_of(t), xq.scales_of(t), wr, k);
                REQUIRE(std::fabs(dot - exact) <= 1e-5 * (1.0 + std::fabs(exact)) * std::sqrt(double(k)));
            }
    }
}

TEST_CASE("Q8_0 linear: decode and prefill paths, any thread count", "[q8_0]") {
    const std::int64_t k = 256, out = 200;
    const auto w = quantized(random_floats(out * k, 11), out, k);
    const moe::matrix_view<const q8_0_block> wv{w.data(), out, k};
    std::vector<float> bias(static_cast<std::size_t>(out));
    for (std::int64_t i = 0; i < out; ++i) bias[std::size_t(i)] = 0.01f * float(i);
    const moe::matrix_view<const float> bv{bias.data(), 1, out};
    moe::cpu::thread_pool one(1), three(3);
    for (std::int64_t tokens : {1, 4, 37}) {
        const auto x = random_floats(tokens * k, 12 + tokens);
        const moe::matrix_view<const float> xv{x.data(), tokens, k};
        std::vector<float> y1(static_cast<std::size_t>(tokens * out)), y3(y1.size());
        moe::cpu::linear<q8_0_block>(xv, wv, bv, {y1.data(), tokens, out}, one);
        moe::cpu::linear<q8_0_block>(xv, wv, bv, {y3.data(), tokens, out}, three);
        kernels::q8_tokens xq;
        kernels::quantize_tokens_q8_0(x.data(), k, tokens, k, xq);
        for (std::int64_t t = 0; t < tokens; ++t)
            for (std::int64_t r = 0; r < out; ++r) {
                const float got = y1[std::size_t(t * out + r)];
                REQUIRE(std::bit_cast<std::uint32_t>(got) == std::bit_cast<std::uint32_t>(y3[std::size_t(t * out + r)]));
                const float product = tokens <= 4
                                          ? kernels::q8_dot_product_reference(xq.q_of(t), xq.scales_of(t), w.data() + r * k / 32, k)
                                          : kernels::q8_gemm_reference(xq.q_of(t), xq.scales_of(t), w.data() + r * k / 32, k);
                REQUIRE(std::bit_cast<std::uint32_t>(got) == std::bit_cast<std::uint32_t>(product + bias[std::size_t(r)]));
            }
    }
}

// The bit-for-bit cases above pass on the portable loop too, so they cannot tell whether the NEON path ran: this
// checks that an ARM build with the dot-product extension picked it (the test-arm64 CI preset builds one).
TEST_CASE("an AArch64 build with dotprod runs the sdot tiles", "[q8_0]") {
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
    REQUIRE(kernels::q8_dot_path == kernels::q8_path::neon);
#elif defined(__aarch64__)
    REQUIRE(kernels::q8_dot_path == kernels::q8_path::portable);
#else
    REQUIRE(kernels::q8_dot_path != kernels::q8_path::neon);
#endif
}

}  // namespace test_q8_tiles
