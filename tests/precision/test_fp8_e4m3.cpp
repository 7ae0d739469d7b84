// weight_format::fp8_e4m3: the e4m3fn codec against torch (tests/data/fp8/codec, made by
// tools/make_fp8_reference.py with torch 2.15: every code's value, .to(float8_e4m3fn) of ties, neighbours,
// the saturation region, NaNs and random floats), the row quantizer against DeepSeek's act_quant rule computed by
// torch, and the kernels: the SIMD decoders of all 256 codes (values and the decode tiles' values · 2^-8), the
// decode and GEMM tiles against their plain-loop definitions bit for bit (the compiled-in path and the portable
// one) and against a double-precision sum, NaN codes reaching the result, the same bits with x86's DAZ and FTZ
// modes set, and the format's kernels through swiglu_runner (decode and prefill), thread-count independent.
#include <catch2/catch.hpp>

#if defined(__SSE__)
#include <xmmintrin.h>  // _mm_getcsr / _mm_setcsr: the DAZ and FTZ test
#endif

#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "moe/config/precision.hpp"
#include "moe/cpu/kernels/fp8_dot_tiles.hpp"
#include "moe/cpu/kernels/fp8_gemm_tiles.hpp"
#include "moe/cpu/swiglu_runner.hpp"
#include "moe/cpu/widen_rows.hpp"
#include "moe/precision/fp8_e4m3.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "moe/tensor/random_fill.hpp"

namespace test_fp8_e4m3 {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

namespace kernels = moe::cpu::kernels;
using moe::fp8_e4m3_block;

template <class T>
std::vector<T> read_data(const std::string& name) {
    std::ifstream in(std::string(MOE_TEST_DATA_DIR) + "/fp8/codec/" + name, std::ios::binary);
    REQUIRE(in.good());
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(bytes.size() % sizeof(T) == 0);
    std::vector<T> values(bytes.size() / sizeof(T));
    std::memcpy(values.data(), bytes.data(), bytes.size());
    return values;
}

bool same_bits(float a, float b) { return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b); }
bool same_value(float a, float b) { return (std::isnan(a) && std::isnan(b)) || same_bits(a, b); }

static_assert(moe::name_of(moe::weight_format::fp8_e4m3) == "fp8_e4m3");
static_assert(moe::bytes_per_weight(moe::weight_format::fp8_e4m3) == 132.0 / 128.0);
static_assert(moe::block_width_of(moe::weight_format::fp8_e4m3) == 128);
static_assert(moe::format_of_storage<fp8_e4m3_block> == moe::weight_format::fp8_e4m3);
static_assert(std::is_same_v<moe::vector_storage_t<moe::weight_format::fp8_e4m3>, float>);
static_assert(moe::fits_blocks<moe::weight_format::fp8_e4m3>(256) && !moe::fits_blocks<moe::weight_format::fp8_e4m3>(96));
static_assert(moe::weight_format_traits<moe::weight_format::fp8_e4m3>::cpu &&
              !moe::weight_format_traits<moe::weight_format::fp8_e4m3>::cuda);
static_assert(moe::fp8_e4m3_to_float(0x7E) == 448.0f && moe::fp8_e4m3_to_float(0x01) == 1.0f / 512 &&
              moe::fp8_e4m3_to_float(0x08) == 1.0f / 64 && moe::fp8_e4m3_to_float(0xB8) == -1.0f);

TEST_CASE("e4m3fn decode: every code equals torch's value", "[fp8]") {
    const auto torch_values = read_data<float>("decode.f32");
    REQUIRE(torch_values.size() == 256);
    for (int c = 0; c < 256; ++c) {
        INFO("code " << c);
        REQUIRE(same_value(moe::fp8_e4m3_to_float(static_cast<std::uint8_t>(c)), torch_values[static_cast<std::size_t>(c)]));
        REQUIRE(same_value(moe::fp8_e4m3_values[static_cast<std::size_t>(c)], torch_values[static_cast<std::size_t>(c)]));
    }
    CHECK(std::isnan(moe::fp8_e4m3_to_float(0x7F)));
    CHECK(std::isnan(moe::fp8_e4m3_to_float(0xFF)));
}

TEST_CASE("e4m3fn encode: torch's codes for ties, neighbours, saturation, NaN and random floats", "[fp8]") {
    const auto inputs = read_data<float>("encode_in.f32");
    const auto codes = read_data<std::uint8_t>("encode_out.u8");
    REQUIRE(inputs.size() == codes.size());
    REQUIRE(inputs.size() > 5000);
    std::size_t ties = 0, saturated = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        INFO("input " << inputs[i] << " (bits " << std::hex << std::bit_cast<std::uint32_t>(inputs[i]) << ")");
        REQUIRE(int(moe::fp8_e4m3_from_float(inputs[i])) == int(codes[i]));
        saturated += std::fabs(inputs[i]) > 448.0f;
        const float v = std::fabs(inputs[i]);
        if (v < 448.0f && !std::isnan(v)) {  // an exact midpoint between two codes: both neighbours are equally near
            const std::uint8_t c = moe::fp8_e4m3_from_float(v);
            const float lo = moe::fp8_e4m3_to_float(c), other = moe::fp8_e4m3_to_float(std::uint8_t(v > lo ? c + 1 : c - 1));
            ties += c > 0 && c < 0x7E && std::fabs(v - lo) == std::fabs(other - v);
        }
    }
    CHECK(ties >= 2 * 125);      // every midpoint, both signs
    CHECK(saturated >= 2 * 20);  // 449 … inf: torch 2.15 saturates to ±448
    CHECK(moe::fp8_e4m3_from_float(1e30f) == 0x7E);
    CHECK(moe::fp8_e4m3_from_float(-INFINITY) == 0xFE);
    CHECK(moe::fp8_e4m3_from_float(std::nanf("")) == 0x7F);
}

TEST_CASE("the row quantizer is DeepSeek's act_quant rule per 128 weights, as torch computes it", "[fp8]") {
    const auto x = read_data<float>("quantize_in.f32");
    const auto codes = read_data<std::uint8_t>("quantize_codes.u8");
    const auto scales = read_data<float>("quantize_scales.f32");
    REQUIRE(x.size() == 4 * 256);
    std::vector<fp8_e4m3_block> blocks(8);
    for (int r = 0; r < 4; ++r) moe::quantize_fp8_e4m3_row(x.data() + r * 256, 256, blocks.data() + r * 2);
    for (int b = 0; b < 8; ++b) {
        INFO("block " << b);
        REQUIRE(same_bits(blocks[static_cast<std::size_t>(b)].scale, scales[static_cast<std::size_t>(b)]));
        for (int i = 0; i < 128; ++i) REQUIRE(blocks[static_cast<std::size_t>(b)].q[i] == codes[static_cast<std::size_t>(b * 128 + i)]);
    }
    // Read back: within half a step of each value (1/16 relative for normals, half a subnormal step below).
    std::vector<float> back(256);
    moe::dequantize_fp8_e4m3_row(blocks.data(), 256, back.data());
    for (int i = 0; i < 256; ++i) {
        const double step = double(blocks[static_cast<std::size_t>(i / 128)].scale) / 512;
        REQUIRE(std::fabs(double(back[static_cast<std::size_t>(i)]) - double(x[static_cast<std::size_t>(i)])) <=
                std::max(std::fabs(double(x[static_cast<std::size_t>(i)])) / 16, step / 2) + 1e-12);
    }
    // An all-zero block (where act_quant would divide 0 by 0): scale 0, zero codes.
    std::vector<float> zeros(128, 0.0f);
    fp8_e4m3_block z{};
    z.scale = -1.0f;
    moe::quantize_fp8_e4m3_row(zeros.data(), 128, &z);
    CHECK(z.scale == 0.0f);
    for (int i = 0; i < 128; ++i) CHECK(z.q[i] == 0);
}

TEST_CASE("the SIMD decode gives the table's bits for every code", "[fp8][perf_kernels]") {
    INFO("path " << static_cast<int>(kernels::fp8_kernel_path));
    for (int start = 0; start < 256; start += 16)
        for (int shift = 0; shift < 16; ++shift) {  // every code in every lane
            std::uint8_t q[16];
            for (int i = 0; i < 16; ++i) q[i] = static_cast<std::uint8_t>(start + (i + shift) % 16);
            float simd[16], portable[16];
            kernels::fp8_decode16(q, simd);
            kernels::fp8_decode16(q, portable, true);
            float weights[16], finite[16];
            kernels::fp8_decode16_weights(q, weights);
            kernels::fp8_decode16_weights(q, finite, true);
            for (int i = 0; i < 16; ++i) {
                INFO("code " << int(q[i]));
                REQUIRE(same_bits(simd[i], moe::fp8_e4m3_values[q[i]]));
                REQUIRE(same_bits(portable[i], moe::fp8_e4m3_values[q[i]]));
                REQUIRE(same_bits(weights[i], kernels::fp8_dot_weights[q[i]]));
                if ((q[i] & 0x7F) != 0x7F) REQUIRE(same_bits(finite[i], kernels::fp8_dot_weights[q[i]]));
            }
        }
    // The decode tiles' weights are the values · 2^-8, exactly (in double: no rounding), NaN codes NaN.
    for (int c = 0; c < 256; ++c) {
        INFO("code " << c);
        const float v = moe::fp8_e4m3_values[static_cast<std::size_t>(c)];
        const float w = kernels::fp8_dot_weights[static_cast<std::size_t>(c)];
        if (std::isnan(v)) REQUIRE(same_bits(w, v));
        else REQUIRE(double(w) * 256.0 == double(v));
    }
}

// rows × K/128 blocks of random codes (every finite code, NaN codes excluded) and scales 2^-12 … 2^2.
std::vector<fp8_e4m3_block> random_blocks(std::int64_t rows, std::int64_t k, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> code(0, 253);
    std::uniform_real_distribution<float> exponent(-12.0f, 2.0f);
    std::vector<fp8_e4m3_block> w(static_cast<std::size_t>(rows * k / 128));
    for (auto& b : w) {
        b.scale = std::exp2(exponent(rng));
        for (auto& q : b.q) {
            const int c = code(rng);
            q = static_cast<std::uint8_t>(c < 127 ? c : c + 1);  // skips 0x7F (and 0xFF: 254 + 1 = 255 is never drawn)
        }
    }
    return w;
}

std::vector<float> random_floats(std::int64_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> x(static_cast<std::size_t>(n));
    for (float& v : x) v = dist(rng);
    return x;
}

// Σ decode(q) · scale · x in double, and Σ |decode(q) · scale · x|: the exact value and the scale of its rounding.
std::pair<double, double> exact_dot(const float* x, const fp8_e4m3_block* w, std::int64_t k) {
    double s = 0, a = 0;
    for (std::int64_t i = 0; i < k; ++i) {
        const double term = double(moe::fp8_e4m3_values[w[i / 128].q[i % 128]]) * double(w[i / 128].scale) * double(x[i]);
        s += term;
        a += std::fabs(term);
    }
    return {s, a};
}

TEST_CASE("fp8 decode tiles equal their definition bit for bit", "[fp8][perf_kernels]") {
    for (std::int64_t k : {128, 384, 1024})
        for (std::int64_t tokens : {1, 2, 3, 4, 5, 7})
            for (std::int64_t rows : {1, 4, 13}) {
                const auto seed = static_cast<std::uint64_t>(tokens * 1000 + rows * 10 + k);
                const auto x = random_floats(tokens * k, 1 + seed);
                const auto w = random_blocks(rows, k, 2 + seed);
                const std::int64_t stride = rows + 3;
                for (bool portable : {false, true}) {
                    std::vector<float> out(static_cast<std::size_t>(tokens * stride), -123.0f);
                    kernels::fp8_dot_product_block(x.data(), k, tokens, w.data(), k / 128, rows, k, out.data(), stride,
                                                   portable);
                    for (std::int64_t t = 0; t < tokens; ++t) {
                        for (std::int64_t r = 0; r < rows; ++r) {
                            INFO("k " << k << " tokens " << tokens << " rows " << rows << " portable " << portable);
                            const float got = out[static_cast<std::size_t>(t * stride + r)];
                            const fp8_e4m3_block* wr = w.data() + r * k / 128;
                            REQUIRE(same_bits(got, kernels::fp8_dot_product_reference(x.data() + t * k, wr, k)));
                            // fp32 chains of ≤ K/16 + 8 roundings: within (K/16 + 8) · 1e-6 of Σ|terms| (17× the
                            // worst-case bound of n · 2^-24).
                            const auto [exact, magnitude] = exact_dot(x.data() + t * k, wr, k);
                            REQUIRE(std::fabs(got - exact) <= 1e-6 * double(k / 16 + 8) * magnitude);
                        }
                        REQUIRE(out[static_cast<std::size_t>(t * stride + rows)] == -123.0f);  // past `rows`: untouched
                    }
                }
            }
}

TEST_CASE("fp8 GEMM tiles equal their definition bit for bit", "[fp8][perf_kernels]") {
    for (std::int64_t k : {128, 384, 1024})
        for (std::int64_t tokens : {5, 8, 9, 16, 17, 32, 40, 70})
            for (std::int64_t rows : {1, 5, 8, 13, 64}) {
                const auto seed = static_cast<std::uint64_t>(tokens * 1000 + rows * 10 + k);
                const auto x = random_floats(tokens * k, 3 + seed);
                const auto w = random_blocks(rows, k, 4 + seed);
                const std::int64_t np = kernels::padded_tokens(tokens);
                std::vector<float> xt(static_cast<std::size_t>(k * np));
                kernels::pack_transposed(x.data(), k, tokens, k, xt.data());
                for (bool portable : {false, true}) {
                    std::vector<float> ct(static_cast<std::size_t>(rows * np), -123.0f);
                    kernels::fp8_gemm_block_transposed(xt.data(), np, w.data(), k / 128, rows, k, ct.data(), portable);
                    for (std::int64_t r = 0; r < rows; ++r)
                        for (std::int64_t t = 0; t < np; ++t) {
                            INFO("k " << k << " tokens " << tokens << " rows " << rows << " t " << t << " portable "
                                      << portable);
                            const float got = ct[static_cast<std::size_t>(r * np + t)];
                            const fp8_e4m3_block* wr = w.data() + r * k / 128;
                            const float want = t < tokens ? kernels::fp8_gemm_reference(x.data() + t * k, wr, k) : 0.0f;
                            REQUIRE(same_bits(got, want));
                            if (t < tokens) {  // one chain of K + K/128 roundings
                                const auto [exact, magnitude] = exact_dot(x.data() + t * k, wr, k);
                                REQUIRE(std::fabs(got - exact) <= 1e-6 * double(k + k / 128) * magnitude);
                            }
                        }
                }
            }
}

TEST_CASE("NaN codes reach the result on every path", "[fp8][perf_kernels]") {
    // e4m3fn has no infinities: a NaN code (0x7F, 0xFF) is the only non-finite weight. The loader refuses them, but
    // a block built in memory may hold one; the AVX2 decode tiles look for them once per block.
    constexpr std::int64_t k = 384, rows = 4;
    for (std::int64_t tokens : {1, 2, 3, 4, 5, 40}) {
        const auto x = random_floats(tokens * k, 7 + static_cast<std::uint64_t>(tokens));
        auto w = random_blocks(rows, k, 8);
        w[1 * 3 + 1].q[37] = 0x7F;   // row 1, second block
        w[2 * 3 + 2].q[127] = 0xFF;  // row 2, last block (the AVX2 tiles' odd block)
        w[3 * 3 + 0].q[0] = 0xFF;    // row 3, first block
        const std::int64_t np = kernels::padded_tokens(tokens);
        std::vector<float> xt(static_cast<std::size_t>(k * np));
        kernels::pack_transposed(x.data(), k, tokens, k, xt.data());
        for (bool portable : {false, true}) {
            INFO("tokens " << tokens << " portable " << portable);
            std::vector<float> out(static_cast<std::size_t>(tokens * rows));
            kernels::fp8_dot_product_block(x.data(), k, tokens, w.data(), k / 128, rows, k, out.data(), rows, portable);
            std::vector<float> ct(static_cast<std::size_t>(rows * np));
            kernels::fp8_gemm_block_transposed(xt.data(), np, w.data(), k / 128, rows, k, ct.data(), portable);
            for (std::int64_t t = 0; t < tokens; ++t) {
                REQUIRE(same_bits(out[static_cast<std::size_t>(t * rows)],
                                  kernels::fp8_dot_product_reference(x.data() + t * k, w.data(), k)));
                REQUIRE(same_bits(ct[static_cast<std::size_t>(t)], kernels::fp8_gemm_reference(x.data() + t * k, w.data(), k)));
                for (std::int64_t r = 1; r < rows; ++r) {
                    REQUIRE(std::isnan(out[static_cast<std::size_t>(t * rows + r)]));
                    REQUIRE(std::isnan(ct[static_cast<std::size_t>(r * np + t)]));
                }
            }
        }
    }
}

#if defined(__SSE__)
TEST_CASE("fp8 kernels give the same bits with x86's DAZ and FTZ modes set", "[fp8][perf_kernels]") {
    // Programs built with -ffast-math set denormals-are-zero and flush-to-zero at start-up. No decoder may read an
    // fp32 denormal (the subnormal codes would become zero) or produce one.
    constexpr std::int64_t k = 1024, rows = 13, tokens = 5, gemm_tokens = 40;
    const auto x = random_floats(gemm_tokens * k, 21);
    const auto w = random_blocks(rows, k, 22);  // every finite code, the 14 subnormal ones included
    const std::int64_t np = kernels::padded_tokens(gemm_tokens);
    std::vector<float> xt(static_cast<std::size_t>(k * np));
    kernels::pack_transposed(x.data(), k, gemm_tokens, k, xt.data());
    auto run = [&] {
        std::vector<float> all;
        for (int start = 0; start < 256; start += 16) {
            std::uint8_t q[16];
            float v[16], wv[16];
            for (int i = 0; i < 16; ++i) q[i] = static_cast<std::uint8_t>(start + i);
            kernels::fp8_decode16(q, v);
            kernels::fp8_decode16_weights(q, wv);
            all.insert(all.end(), v, v + 16);
            all.insert(all.end(), wv, wv + 16);
        }
        std::vector<float> out(static_cast<std::size_t>(tokens * rows)), ct(static_cast<std::size_t>(rows * np));
        kernels::fp8_dot_product_block(x.data(), k, tokens, w.data(), k / 128, rows, k, out.data(), rows);
        kernels::fp8_gemm_block_transposed(xt.data(), np, w.data(), k / 128, rows, k, ct.data());
        all.insert(all.end(), out.begin(), out.end());
        all.insert(all.end(), ct.begin(), ct.end());
        return all;
    };
    const auto clear = run();
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
    const auto flushed = run();
    _mm_setcsr(saved);
    REQUIRE(clear.size() == flushed.size());
    for (std::size_t i = 0; i < clear.size(); ++i) {
        INFO("value " << i);
        REQUIRE(same_bits(clear[i], flushed[i]));
    }
}
#endif

// y = down(silu(gate · x) ⊙ (up · x)) in double over the weights read back by read_row.
std::vector<double> swiglu_loop(const std::vector<float>& x, std::int64_t n, std::int64_t d, std::int64_t f,
                                const moe::host_matrix<fp8_e4m3_block>& gate, const moe::host_matrix<fp8_e4m3_block>& up,
                                const moe::host_matrix<fp8_e4m3_block>& down) {
    auto widen = [](const moe::host_matrix<fp8_e4m3_block>& m) {
        std::vector<float> w(static_cast<std::size_t>(m.rows() * m.cols()));
        moe::dequantize_fp8_e4m3_row(m.data(), m.rows() * m.cols(), w.data());
        return w;
    };
    const auto g = widen(gate), u = widen(up), dn = widen(down);
    std::vector<double> y(static_cast<std::size_t>(n * d), 0.0);
    for (std::int64_t t = 0; t < n; ++t) {
        std::vector<double> a(static_cast<std::size_t>(f));
        for (std::int64_t r = 0; r < f; ++r) {
            double gs = 0, us = 0;
            for (std::int64_t k = 0; k < d; ++k) {
                gs += double(x[static_cast<std::size_t>(t * d + k)]) * g[static_cast<std::size_t>(r * d + k)];
                us += double(x[static_cast<std::size_t>(t * d + k)]) * u[static_cast<std::size_t>(r * d + k)];
            }
            a[static_cast<std::size_t>(r)] = gs / (1.0 + std::exp(-gs)) * us;
        }
        for (std::int64_t c = 0; c < d; ++c) {
            double s = 0;
            for (std::int64_t r = 0; r < f; ++r) s += a[static_cast<std::size_t>(r)] * dn[static_cast<std::size_t>(c * f + r)];
            y[static_cast<std::size_t>(t * d + c)] = s;
        }
    }
    return y;
}

TEST_CASE("swiglu_runner runs the fp8_e4m3 kernels, thread-count independent", "[fp8][formats]") {
    constexpr std::int64_t D = 256, F = 384;
    moe::host_matrix<fp8_e4m3_block> gate(F, D), up(F, D), down(D, F);
    std::mt19937_64 rng(11);
    moe::fill_linear(gate, rng);  // uniform draws quantized by quantize_row (DeepSeek's rule)
    moe::fill_linear(up, rng);
    moe::fill_linear(down, rng);
    const moe::swiglu_weights<fp8_e4m3_block> w{gate.view(), up.view(), down.view()};
    moe::thread_pool one(1), three(3);
    for (std::int64_t n : {1, 4, 5, 37}) {  // decode (dot-product tiles) and prefill (GEMM tiles)
        std::vector<float> x(static_cast<std::size_t>(n * D));
        std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
        for (float& v : x) v = dist(rng);
        std::vector<float> y1(x.size()), y3(x.size());
        moe::cpu::swiglu_runner<fp8_e4m3_block> a, b;
        a.run({x.data(), n, D}, w, {y1.data(), n, D}, one);
        b.run({x.data(), n, D}, w, {y3.data(), n, D}, three);
        REQUIRE(y1 == y3);
        // fp32 activations and sums over the exact weights: only the summation order differs from the double loop.
        const auto want = swiglu_loop(x, n, D, F, gate, up, down);
        for (std::size_t i = 0; i < y1.size(); ++i) REQUIRE(std::abs(double(y1[i]) - want[i]) <= 1e-5);
    }
    // widen_rows (multi-head latent attention's kv_b_proj) reads rows as read_row does.
    const auto wide = moe::cpu::widen_rows(moe::matrix_view<const fp8_e4m3_block>{gate.data(), F, D}, 3, 2);
    std::vector<float> back(static_cast<std::size_t>(2 * D));
    moe::dequantize_fp8_e4m3_row(gate.row(3), 2 * D, back.data());
    for (std::int64_t i = 0; i < D; ++i) REQUIRE(wide(1, i) == back[static_cast<std::size_t>(D + i)]);
}

}  // namespace

}  // namespace test_fp8_e4m3
