// weight_format::q4_0, q5_0, q4_k, q5_k, q6_k: the decode tiles (kquant_dot_product_block, type0_dot_product_block)
// and the prefill GEMM (kquant_gemm_block_transposed, type0_gemm_block_transposed) bit for bit against their plain-loop
// definitions, the compiled SIMD path against the portable loop, and both against a double-precision dot product
// of the dequantized weights (the dequantizers of precision/ggml_blocks.hpp, ggml's) and the dequantized Q8_K /
// Q8_0 activations; weights from ggml's quantizers and blocks of random bytes (every bit pattern of the nibbles,
// high bits and scales). Then linear and the SwiGLU runner in each format, thread-count independent, against a
// double loop over the weights read back.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <type_traits>
#include <vector>

#include "moe/cpu/formats.hpp"
#include "moe/cpu/linear.hpp"
#include "moe/cpu/swiglu_runner.hpp"
#include "moe/precision/ggml_blocks.hpp"
#include "moe/precision/ggml_quantizers.hpp"
#include "moe/runtime/thread_pool.hpp"

namespace test_kquant_kernels {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

namespace kernels = moe::cpu::kernels;
using moe::q4_0_block;
using moe::q5_0_block;
using moe::q4_k_block;
using moe::q5_k_block;
using moe::q6_k_block;
using moe::q8_k_block;

bool same_bits(float a, float b) { return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b); }

// Values with per-call magnitudes from 1e-3 to 10, random signs; a few large outliers.
std::vector<float> random_floats(std::int64_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(n));
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 14) - 10);
    for (auto& x : v) x = normal(rng) * scale * (rng() % 97 == 0 ? 8.0f : 1.0f);
    return v;
}

// An fp16 scale: mostly normal magnitudes 2^-12 … 2^-3 of either sign, sometimes zero or subnormal.
std::uint16_t random_scale(std::mt19937_64& rng) {
    const auto pick = rng() % 16;
    if (pick == 0) return 0;
    if (pick == 1) return static_cast<std::uint16_t>(1 + rng() % 0x3ff);  // subnormal
    const float v = std::ldexp(1.0f + float(rng() % 1024) / 1024.0f, -3 - static_cast<int>(rng() % 10));
    return moe::float16::from_float(rng() % 4 == 0 ? -v : v);
}

// Q4_0 and Q5_0: 32-weight blocks multiplied with Q8_0 activations (include/moe/cpu/kernels/type0_tiles.hpp).
template <class Block>
constexpr bool type0 = std::is_same_v<Block, q4_0_block> || std::is_same_v<Block, q5_0_block>;

// Blocks of random bytes (any nibble, high bit and 6-bit scale pattern a GGUF file may hold) with valid scales.
template <class Block>
std::vector<Block> random_blocks(std::int64_t count, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<Block> blocks(static_cast<std::size_t>(count));
    for (auto& b : blocks) {
        auto* bytes = reinterpret_cast<unsigned char*>(&b);
        for (std::size_t i = 0; i < sizeof(Block); ++i) bytes[i] = static_cast<unsigned char>(rng());
        if constexpr (type0<Block> || std::is_same_v<Block, q6_k_block>) b.d = random_scale(rng);
        else b.d = random_scale(rng), b.dmin = random_scale(rng);
    }
    return blocks;
}

template <class Block>
constexpr std::int64_t block_width = type0<Block> ? 32 : 256;

template <class Block>
void quantize_row(const float* x, std::int64_t k, Block* out) {
    if constexpr (std::is_same_v<Block, q4_0_block>) moe::quantize_row_q4_0(x, k, out);
    else if constexpr (std::is_same_v<Block, q5_0_block>) moe::quantize_row_q5_0(x, k, out);
    else if constexpr (std::is_same_v<Block, q4_k_block>) moe::quantize_row_q4_k(x, k, out);
    else if constexpr (std::is_same_v<Block, q5_k_block>) moe::quantize_row_q5_k(x, k, out);
    else moe::quantize_row_q6_k(x, k, out);
}

template <class Block>
void dequantize_row(const Block* w, std::int64_t k, float* out) {
    if constexpr (std::is_same_v<Block, q4_0_block>) moe::dequantize_row_q4_0(w, k, out);
    else if constexpr (std::is_same_v<Block, q5_0_block>) moe::dequantize_row_q5_0(w, k, out);
    else if constexpr (std::is_same_v<Block, q4_k_block>) moe::dequantize_row_q4_k(w, k, out);
    else if constexpr (std::is_same_v<Block, q5_k_block>) moe::dequantize_row_q5_k(w, k, out);
    else moe::dequantize_row_q6_k(w, k, out);
}

// Weights: half the rows from ggml's quantizer, half random bytes.
template <class Block>
std::vector<Block> test_weights(std::int64_t rows, std::int64_t k, std::uint64_t seed) {
    const std::int64_t per_row = k / block_width<Block>;
    auto blocks = random_blocks<Block>(rows * per_row, seed);
    const auto x = random_floats(rows * k, seed + 1);
    for (std::int64_t r = 0; r < rows; r += 2) quantize_row(x.data() + r * k, k, blocks.data() + r * per_row);
    return blocks;
}

// The error bound against the double-precision sum: the kernels and the dequantizer differ from it by fp32
// roundings only — per output at most (blocks per row + 10) · 2^-23 of Σ_k |x_k| · (|w_k| + 2 · |dmin · m_k|)
// (the minimum term is rounded apart from the scale term, so its size counts). `worst` records the largest
// error seen in units of 2^-24 · that magnitude.
struct error_bound {
    double worst = 0;
    bool check(double got, double exact, double magnitude, std::int64_t blocks) {
        const double unit = std::ldexp(magnitude, -24);
        if (unit > 0) worst = std::max(worst, std::fabs(got - exact) / unit);
        return std::fabs(got - exact) <= 2.0 * double(blocks + 10) * unit;
    }
};

// Σ x·w in double and its magnitude, over one row of dequantized weights and one token's dequantized activations.
template <class Block>
std::pair<double, double> exact_dot(const std::vector<double>& x, const Block* w, std::int64_t k) {
    std::vector<float> wf(static_cast<std::size_t>(k));
    dequantize_row(w, k, wf.data());
    double sum = 0, magnitude = 0;
    for (std::int64_t i = 0; i < k; ++i) {
        double min_term = 0;
        if constexpr (std::is_same_v<Block, q4_k_block> || std::is_same_v<Block, q5_k_block>) {
            std::uint8_t sc, m;
            const Block& b = w[i / 256];
            moe::get_scale_min_k4(static_cast<int>(i % 256 / 32), b.scales, sc, m);
            min_term = std::fabs(double(moe::float16::to_float(b.dmin)) * m);
        }
        sum += x[i] * wf[i];
        magnitude += std::fabs(x[i]) * (std::fabs(double(wf[i])) + 2 * min_term);
    }
    return {sum, magnitude};
}

// The activations each format's product quantizes to, dequantized in double: (tokens, K).
struct quantized_tokens {
    kernels::q8_k_tokens q8_k;
    kernels::q8_tokens q8_0;
};

template <class Block>
std::vector<double> dequantized_tokens(const quantized_tokens& q, std::int64_t tokens, std::int64_t k) {
    std::vector<double> x(static_cast<std::size_t>(tokens * k));
    for (std::int64_t t = 0; t < tokens; ++t)
        for (std::int64_t i = 0; i < k; ++i) {
            if constexpr (type0<Block>)
                x[t * k + i] = double(q.q8_0.scales_of(t)[i / 32]) * q.q8_0.q_of(t)[i];
            else
                x[t * k + i] = double(q.q8_k.blocks_of(t)[i / 256].d) * q.q8_k.blocks_of(t)[i / 256].qs[i % 256];
        }
    return x;
}

template <class Block>
void decode(const quantized_tokens& q, std::int64_t tokens, const Block* w, std::int64_t w_stride, std::int64_t rows,
            float* out, std::int64_t out_stride, bool portable) {
    if constexpr (type0<Block>)
        kernels::type0_dot_product_block(q.q8_0, tokens, w, w_stride, rows, out, out_stride, portable);
    else kernels::kquant_dot_product_block(q.q8_k, tokens, w, w_stride, rows, out, out_stride, portable);
}

template <class Block>
float decode_reference(const quantized_tokens& q, std::int64_t t, const Block* w, std::int64_t k) {
    if constexpr (type0<Block>)
        return kernels::type0_dot_product_reference(q.q8_0.q_of(t), q.q8_0.scales_of(t), w, k);
    else return kernels::kquant_dot_product_reference(q.q8_k.blocks_of(t), w, k);
}

template <class Block>
float gemm_reference(const quantized_tokens& q, std::int64_t t, const Block* w, std::int64_t k) {
    if constexpr (type0<Block>)
        return kernels::type0_gemm_reference(q.q8_0.q_of(t), q.q8_0.scales_of(t), w, k);
    else return kernels::kquant_gemm_reference(q.q8_k.blocks_of(t), w, k);
}

quantized_tokens quantize_tokens(const std::vector<float>& x, std::int64_t tokens, std::int64_t k) {
    quantized_tokens q;
    kernels::quantize_tokens_q8_0(x.data(), k, tokens, k, q.q8_0);
    if (k % 256 == 0) kernels::quantize_tokens_q8_k(x.data(), k, tokens, k, q.q8_k);
    return q;
}

void report(const char* what, const error_bound& bound) {
    if (std::getenv("MOE_TEST_REPORT")) std::cout << what << ": worst error " << bound.worst << " · 2^-24 · Σ|x||w|\n";
}

template <class Block>
void check_decode(const char* name) {
    error_bound bound;
    for (std::int64_t k : {256, 768, 4096})
        for (std::int64_t tokens : {1, 2, 3, 4, 5, 7})
            for (std::int64_t rows : {1, 3, 13}) {
                const auto seed = static_cast<std::uint64_t>(tokens * 1000 + rows * 10 + k);
                const auto x = random_floats(tokens * k, 1 + seed);
                const auto w = test_weights<Block>(rows, k, 2 + seed);
                const auto q = quantize_tokens(x, tokens, k);
                const auto xd = dequantized_tokens<Block>(q, tokens, k);
                const std::int64_t per_row = k / block_width<Block>, stride = rows + 3;
                std::vector<float> simd(static_cast<std::size_t>(tokens * stride), -123.0f), portable(simd);
                decode<Block>(q, tokens, w.data(), per_row, rows, simd.data(), stride, false);
                decode<Block>(q, tokens, w.data(), per_row, rows, portable.data(), stride, true);
                for (std::int64_t t = 0; t < tokens; ++t) {
                    for (std::int64_t r = 0; r < rows; ++r) {
                        INFO(name << " k " << k << " tokens " << tokens << " rows " << rows << " t " << t << " r " << r);
                        const auto i = static_cast<std::size_t>(t * stride + r);
                        const float want = decode_reference<Block>(q, t, w.data() + r * per_row, k);
                        REQUIRE(same_bits(portable[i], want));
                        REQUIRE(same_bits(simd[i], want));
                        const std::vector<double> xt(xd.begin() + t * k, xd.begin() + (t + 1) * k);
                        const auto [exact, magnitude] = exact_dot(xt, w.data() + r * per_row, k);
                        REQUIRE(bound.check(want, exact, magnitude, per_row));
                    }
                    REQUIRE(simd[static_cast<std::size_t>(t * stride + rows)] == -123.0f);  // past `rows`: untouched
                }
            }
    report(name, bound);
}

template <class Block>
void check_gemm(const char* name) {
    error_bound bound;
    for (std::int64_t k : {256, 1024})
        for (std::int64_t tokens : {5, 8, 9, 16, 17, 40})
            for (std::int64_t rows : {1, 5, 8, 13}) {
                const auto seed = static_cast<std::uint64_t>(tokens * 1000 + rows * 10 + k);
                const auto x = random_floats(tokens * k, 3 + seed);
                const auto w = test_weights<Block>(rows, k, 4 + seed);
                const auto q = quantize_tokens(x, tokens, k);
                const auto xd = dequantized_tokens<Block>(q, tokens, k);
                const std::int64_t per_row = k / block_width<Block>, np = kernels::padded_tokens(tokens);
                std::vector<std::uint32_t> xp;
                std::vector<float> simd(static_cast<std::size_t>(rows * np), -123.0f), portable(simd);
                if constexpr (type0<Block>) {
                    xp.resize(static_cast<std::size_t>(kernels::q8_packed_rows(k) * np));
                    kernels::pack_q8_0(x.data(), k, tokens, k, xp.data());
                    kernels::type0_gemm_block_transposed(xp.data(), np, w.data(), per_row, rows, k, simd.data(), false);
                    kernels::type0_gemm_block_transposed(xp.data(), np, w.data(), per_row, rows, k, portable.data(), true);
                } else {
                    xp.resize(static_cast<std::size_t>(kernels::kquant_packed_rows(k) * np));
                    kernels::pack_q8_k(x.data(), k, tokens, k, xp.data());
                    kernels::kquant_gemm_block_transposed(xp.data(), np, w.data(), per_row, rows, k, simd.data(), false);
                    kernels::kquant_gemm_block_transposed(xp.data(), np, w.data(), per_row, rows, k, portable.data(), true);
                }
                for (std::int64_t r = 0; r < rows; ++r)
                    for (std::int64_t t = 0; t < np; ++t) {
                        INFO(name << " k " << k << " tokens " << tokens << " rows " << rows << " t " << t << " r " << r);
                        const auto i = static_cast<std::size_t>(r * np + t);
                        const float want = t < tokens ? gemm_reference<Block>(q, t, w.data() + r * per_row, k) : 0.0f;
                        REQUIRE(same_bits(portable[i], want));
                        REQUIRE(same_bits(simd[i], want));
                        if (t >= tokens) continue;
                        const std::vector<double> xt(xd.begin() + t * k, xd.begin() + (t + 1) * k);
                        const auto [exact, magnitude] = exact_dot(xt, w.data() + r * per_row, k);
                        REQUIRE(bound.check(want, exact, magnitude, per_row));
                    }
            }
    report(name, bound);
}

}  // namespace

// The SIMD-against-portable checks below only mean something when the target's SIMD path is the one compiled.
TEST_CASE("the K-quant decode path is the target's SIMD path", "[kquant]") {
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
    REQUIRE(kernels::kquant_dot_path == kernels::kquant_path::avx2);
#elif defined(__ARM_NEON) && defined(__ARM_FEATURE_DOTPROD)
    REQUIRE(kernels::kquant_dot_path == kernels::kquant_path::neon);
#else
    REQUIRE(kernels::kquant_dot_path == kernels::kquant_path::portable);
#endif
}

TEST_CASE("K-quant, Q4_0 and Q5_0 decode tiles equal their definition, on every path", "[kquant]") {
    INFO("path " << static_cast<int>(kernels::kquant_dot_path));
    check_decode<q4_0_block>("q4_0 decode");
    check_decode<q5_0_block>("q5_0 decode");
    check_decode<q4_k_block>("q4_k decode");
    check_decode<q5_k_block>("q5_k decode");
    check_decode<q6_k_block>("q6_k decode");
}

TEST_CASE("K-quant, Q4_0 and Q5_0 GEMM tiles equal their definition, on every path", "[kquant]") {
    check_gemm<q4_0_block>("q4_0 gemm");
    check_gemm<q5_0_block>("q5_0 gemm");
    check_gemm<q4_k_block>("q4_k gemm");
    check_gemm<q5_k_block>("q5_k gemm");
    check_gemm<q6_k_block>("q6_k gemm");
}

// Activations whose Q8_K bytes reach ±127 against weights whose unsigned values are all at their maximum (15, 31,
// 63) and scales at their extremes: the largest 16-bit pair sums the AVX2 paths must carry without saturating.
TEST_CASE("K-quant tiles are exact at the byte extremes", "[kquant]") {
    const std::int64_t k = 512, rows = 3, tokens = 4;
    std::vector<float> x(static_cast<std::size_t>(tokens * k));
    std::mt19937_64 rng(9);
    for (auto& v : x) v = rng() % 2 ? 1.0f : -1.0f;  // every byte ±127
    const auto q = quantize_tokens(x, tokens, k);
    auto check = [&](auto blocks) {
        using Block = typename decltype(blocks)::value_type;
        for (auto& b : blocks) {
            auto* bytes = reinterpret_cast<unsigned char*>(&b);
            std::memset(bytes, 0xFF, sizeof(Block));  // every value and scale bit set (q6_k scales: −1)
            if constexpr (std::is_same_v<Block, q6_k_block>) std::memset(b.scales, 0x80, sizeof(b.scales));  // −128
            b.d = moe::float16::from_float(0.001f);
            if constexpr (!std::is_same_v<Block, q6_k_block>) b.dmin = moe::float16::from_float(0.002f);
        }
        std::vector<float> simd(static_cast<std::size_t>(tokens * rows)), portable(simd.size());
        kernels::kquant_dot_product_block(q.q8_k, tokens, blocks.data(), k / 256, rows, simd.data(), rows, false);
        kernels::kquant_dot_product_block(q.q8_k, tokens, blocks.data(), k / 256, rows, portable.data(), rows, true);
        const std::int64_t np = kernels::padded_tokens(tokens);
        std::vector<std::uint32_t> xp(static_cast<std::size_t>(kernels::kquant_packed_rows(k) * np));
        kernels::pack_q8_k(x.data(), k, tokens, k, xp.data());
        std::vector<float> ct(static_cast<std::size_t>(rows * np));
        kernels::kquant_gemm_block_transposed(xp.data(), np, blocks.data(), k / 256, rows, k, ct.data(), false);
        const auto xd = dequantized_tokens<Block>(q, tokens, k);
        for (std::int64_t t = 0; t < tokens; ++t)
            for (std::int64_t r = 0; r < rows; ++r) {
                const float want = kernels::kquant_dot_product_reference(q.q8_k.blocks_of(t), blocks.data() + r * k / 256, k);
                REQUIRE(same_bits(simd[std::size_t(t * rows + r)], want));
                REQUIRE(same_bits(portable[std::size_t(t * rows + r)], want));
                REQUIRE(same_bits(ct[std::size_t(r * np + t)],
                                  kernels::kquant_gemm_reference(q.q8_k.blocks_of(t), blocks.data() + r * k / 256, k)));
                const std::vector<double> xt(xd.begin() + t * k, xd.begin() + (t + 1) * k);
                const auto [exact, magnitude] = exact_dot(xt, blocks.data() + r * k / 256, k);
                error_bound bound;
                REQUIRE(bound.check(want, exact, magnitude, k / 256));
            }
    };
    check(std::vector<q4_k_block>(static_cast<std::size_t>(rows * k / 256)));
    check(std::vector<q5_k_block>(static_cast<std::size_t>(rows * k / 256)));
    check(std::vector<q6_k_block>(static_cast<std::size_t>(rows * k / 256)));

    // Q4_0 and Q5_0: every value at its maximum (u = 15, 31: pairs of 2 · 31 · 127 in vpmaddubsw), ±127 bytes.
    auto check_type0 = [&](auto blocks) {
        using Block = typename decltype(blocks)::value_type;
        for (auto& b : blocks) {
            std::memset(reinterpret_cast<unsigned char*>(&b), 0xFF, sizeof(Block));
            b.d = moe::float16::from_float(0.001f);
        }
        std::vector<float> simd(static_cast<std::size_t>(tokens * rows)), portable(simd.size());
        kernels::type0_dot_product_block(q.q8_0, tokens, blocks.data(), k / 32, rows, simd.data(), rows, false);
        kernels::type0_dot_product_block(q.q8_0, tokens, blocks.data(), k / 32, rows, portable.data(), rows, true);
        const std::int64_t np = kernels::padded_tokens(tokens);
        std::vector<std::uint32_t> xp(static_cast<std::size_t>(kernels::q8_packed_rows(k) * np));
        kernels::pack_q8_0(x.data(), k, tokens, k, xp.data());
        std::vector<float> ct(static_cast<std::size_t>(rows * np));
        kernels::type0_gemm_block_transposed(xp.data(), np, blocks.data(), k / 32, rows, k, ct.data(), false);
        for (std::int64_t t = 0; t < tokens; ++t)
            for (std::int64_t r = 0; r < rows; ++r) {
                const float want = kernels::type0_dot_product_reference(q.q8_0.q_of(t), q.q8_0.scales_of(t),
                                                                        blocks.data() + r * k / 32, k);
                REQUIRE(same_bits(simd[std::size_t(t * rows + r)], want));
                REQUIRE(same_bits(portable[std::size_t(t * rows + r)], want));
                REQUIRE(same_bits(ct[std::size_t(r * np + t)],
                                  kernels::type0_gemm_reference(q.q8_0.q_of(t), q.q8_0.scales_of(t),
                                                                blocks.data() + r * k / 32, k)));
            }
    };
    check_type0(std::vector<q4_0_block>(static_cast<std::size_t>(rows * k / 32)));
    check_type0(std::vector<q5_0_block>(static_cast<std::size_t>(rows * k / 32)));
}

namespace {

// linear<Storage>: decode and prefill through the format's kernels, the same bits for 1 and 3 threads, and the
// kernels' definitions plus the bias.
template <class Block>
void check_linear() {
    const std::int64_t k = 512, out = 200, per_row = k / block_width<Block>;
    const auto w = test_weights<Block>(out, k, 21);
    const moe::matrix_view<const Block> wv{w.data(), out, k};
    std::vector<float> bias(static_cast<std::size_t>(out));
    for (std::int64_t i = 0; i < out; ++i) bias[std::size_t(i)] = 0.01f * float(i);
    const moe::matrix_view<const float> bv{bias.data(), 1, out};
    moe::cpu::thread_pool one(1), three(3);
    for (std::int64_t tokens : {1, 4, 37}) {
        const auto x = random_floats(tokens * k, 22 + tokens);
        const moe::matrix_view<const float> xv{x.data(), tokens, k};
        std::vector<float> y1(static_cast<std::size_t>(tokens * out)), y3(y1.size());
        moe::cpu::linear<Block>(xv, wv, bv, {y1.data(), tokens, out}, one);
        moe::cpu::linear<Block>(xv, wv, bv, {y3.data(), tokens, out}, three);
        const auto q = quantize_tokens(x, tokens, k);
        for (std::int64_t t = 0; t < tokens; ++t)
            for (std::int64_t r = 0; r < out; ++r) {
                const float got = y1[std::size_t(t * out + r)];
                REQUIRE(same_bits(got, y3[std::size_t(t * out + r)]));
                const float product = tokens <= 4 ? decode_reference<Block>(q, t, w.data() + r * per_row, k)
                                                  : gemm_reference<Block>(q, t, w.data() + r * per_row, k);
                REQUIRE(same_bits(got, product + bias[std::size_t(r)]));
            }
    }
}

// y = down(silu(gate · x) ⊙ (up · x)) in double over the stored weights read back as fp32 (the dequantizers).
template <class Block>
std::vector<double> swiglu_loop(const std::vector<float>& x, std::int64_t n, std::int64_t d, std::int64_t f,
                                const std::vector<Block>& gate, const std::vector<Block>& up,
                                const std::vector<Block>& down) {
    auto widen = [](const std::vector<Block>& m) {
        std::vector<float> w(m.size() * static_cast<std::size_t>(block_width<Block>));
        dequantize_row(m.data(), static_cast<std::int64_t>(w.size()), w.data());
        return w;
    };
    const auto g = widen(gate), u = widen(up), dn = widen(down);
    std::vector<double> y(static_cast<std::size_t>(n * d), 0.0);
    for (std::int64_t t = 0; t < n; ++t) {
        std::vector<double> a(static_cast<std::size_t>(f));
        for (std::int64_t r = 0; r < f; ++r) {
            double gs = 0, us = 0;
            for (std::int64_t k = 0; k < d; ++k) {
                gs += double(x[t * d + k]) * g[r * d + k];
                us += double(x[t * d + k]) * u[r * d + k];
            }
            a[r] = gs / (1.0 + std::exp(-gs)) * us;
        }
        for (std::int64_t c = 0; c < d; ++c) {
            double s = 0;
            for (std::int64_t r = 0; r < f; ++r) s += a[r] * dn[c * f + r];
            y[t * d + c] = s;
        }
    }
    return y;
}

// A SwiGLU FFN (D = 512, F = 768: three 256-feature blocks of the down projection's input written packed by
// gate/up) in the format, against the double loop over its dequantized weights, relative to max |y|. The
// difference is the activations' 8-bit quantization at both products' inputs (Q8_K: steps of max|x| / 127 per 256).
template <class Block>
std::pair<double, double> check_swiglu(double tolerance, double rms_tolerance) {
    constexpr std::int64_t D = 512, F = 768;
    std::mt19937_64 rng(31);
    auto weights = [&](std::int64_t rows, std::int64_t cols) {
        std::vector<float> v(static_cast<std::size_t>(rows * cols));
        std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
        for (float& e : v) e = dist(rng) / std::sqrt(float(cols));
        std::vector<Block> blocks(v.size() / static_cast<std::size_t>(block_width<Block>));
        for (std::int64_t r = 0; r < rows; ++r)
            quantize_row(v.data() + r * cols, cols, blocks.data() + r * cols / block_width<Block>);
        return blocks;
    };
    const auto gate = weights(F, D), up = weights(F, D), down = weights(D, F);
    const moe::swiglu_weights<Block> w{{gate.data(), F, D}, {up.data(), F, D}, {down.data(), D, F}};
    moe::thread_pool one(1), three(3);
    double worst = 0, worst_rms = 0;
    for (std::int64_t n : {1, 4, 5, 37}) {  // decode (dot-product tiles) and prefill (GEMM tiles)
        std::vector<float> x(static_cast<std::size_t>(n * D));
        std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
        for (float& v : x) v = dist(rng);
        std::vector<float> y1(x.size()), y3(x.size());
        moe::cpu::swiglu_runner<Block> a, b;
        a.run({x.data(), n, D}, w, {y1.data(), n, D}, one);
        b.run({x.data(), n, D}, w, {y3.data(), n, D}, three);
        REQUIRE(y1 == y3);
        const auto want = swiglu_loop(x, n, D, F, gate, up, down);
        double scale = 0, squares = 0, error_squares = 0;
        for (double v : want) scale = std::max(scale, std::fabs(v)), squares += v * v;
        for (std::size_t i = 0; i < y1.size(); ++i) {
            const double error = std::fabs(double(y1[i]) - want[i]);
            worst = std::max(worst, error / scale);
            error_squares += error * error;
            REQUIRE(error <= tolerance * scale);
        }
        worst_rms = std::max(worst_rms, std::sqrt(error_squares / squares));
        REQUIRE(std::sqrt(error_squares / squares) <= rms_tolerance);
    }
    return {worst, worst_rms};
}

}  // namespace

TEST_CASE("linear runs the K-quant, Q4_0 and Q5_0 kernels, thread-count independent", "[kquant]") {
    check_linear<q4_0_block>();
    check_linear<q5_0_block>();
    check_linear<q4_k_block>();
    check_linear<q5_k_block>();
    check_linear<q6_k_block>();
}

TEST_CASE("swiglu_runner in Q4_0, Q5_0 and the K-quants matches the dequantized weights' FFN", "[kquant]") {
    // The activations are quantized to 8 bits at both products' inputs (Q8_0: one scale per 32; Q8_K: per 256), so
    // y differs from the double loop by that rounding: bounds 5% of max |y| per element and 3% in RMS (measured:
    // q4_0 1.2% / 1.0%, K-quants ≤ 2.1% / 1.7% — Q8_K's one scale per 256 of the heavy-tailed SwiGLU activations;
    // MOE_TEST_REPORT=1 prints them). The kernels' own error is the bound of the cases above.
    const std::pair<double, double> worst[] = {check_swiglu<q4_0_block>(5e-2, 3e-2), check_swiglu<q5_0_block>(5e-2, 3e-2),
                                               check_swiglu<q4_k_block>(5e-2, 3e-2), check_swiglu<q5_k_block>(5e-2, 3e-2),
                                               check_swiglu<q6_k_block>(5e-2, 3e-2)};
    const char* names[] = {"q4_0", "q5_0", "q4_k", "q5_k", "q6_k"};
    if (std::getenv("MOE_TEST_REPORT"))
        for (int f = 0; f < 5; ++f)
            std::cout << "swiglu " << names[f] << ": worst |y − y_double| / max|y| "
                      << worst[f].first << ", RMS error / RMS y " << worst[f].second << "\n";
}

}  // namespace test_kquant_kernels
