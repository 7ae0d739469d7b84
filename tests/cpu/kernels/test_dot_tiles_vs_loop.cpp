// kernels::dot_product_block (AVX-512 register tiles when compiled for them) against a plain loop, the SwiGLU
// blocks and linear built on it, and determinism across thread counts and token batching.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <type_traits>
#include <vector>

#include "moe/cpu/kernels/dot_tiles.hpp"
#include "moe/cpu/linear.hpp"
#include "moe/cpu/swiglu_kernels.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "kernel_test_support.hpp"

namespace test_dot_tiles_vs_loop {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

template <class Storage>
std::vector<Storage> random_weights(std::int64_t n, std::uint64_t seed) { return moe_test::random_values<Storage>(n, seed); }

std::vector<float> random_floats(std::int64_t n, std::uint64_t seed) { return moe_test::random_values<float>(n, seed); }

using moe_test::exact_dot;

template <class Storage>
void check_block(std::int64_t tokens, std::int64_t rows, std::int64_t k) {
    const auto x = random_floats(tokens * k, 1 + static_cast<std::uint64_t>(tokens * 1000 + rows * 10 + k));
    const auto w = random_weights<Storage>(rows * k, 7 + static_cast<std::uint64_t>(k));
    const std::int64_t stride = rows + 3;  // outputs written with a row stride larger than `rows`
    std::vector<float> out(static_cast<std::size_t>(tokens * stride), -123.0f);
    moe::cpu::kernels::dot_product_block<Storage>(x.data(), k, tokens, w.data(), k, rows, k, out.data(), stride);
    for (std::int64_t t = 0; t < tokens; ++t) {
        for (std::int64_t r = 0; r < rows; ++r) {
            const float got = out[static_cast<std::size_t>(t * stride + r)];
            const float want = moe::cpu::kernels::dot_product_reference(x.data() + t * k, w.data() + r * k, k);
#if defined(__FMA__) || defined(__AVX512F__) || defined(__ARM_FEATURE_FMA)
            // Same order, same fused multiply-adds: bit-identical to the plain loop.
            REQUIRE(got == want);
#endif
            REQUIRE(std::abs(double(got) - exact_dot(x.data() + t * k, w.data() + r * k, k)) <= 1e-4 * double(k));
        }
        for (std::int64_t r = rows; r < stride; ++r) REQUIRE(out[static_cast<std::size_t>(t * stride + r)] == -123.0f);
    }
}

}  // namespace

TEST_CASE("dot_product_block equals the plain loop for every tile shape and tail", "[perf_kernels]") {
    for (std::int64_t tokens : {1, 2, 3, 4, 5, 6, 7, 13}) {
        for (std::int64_t rows : {1, 3, 4, 9}) {
            for (std::int64_t k : {1, 15, 16, 33, 64, 1024}) {
                check_block<float>(tokens, rows, k);
                check_block<moe::bfloat16>(tokens, rows, k);
                check_block<moe::float16>(tokens, rows, k);
            }
        }
    }
}

TEST_CASE("a token's result does not depend on how many tokens share the call", "[perf_kernels]") {
    constexpr std::int64_t k = 1040, rows = 8, tokens = 11;
    const auto x = random_floats(tokens * k, 3);
    const auto w = random_weights<moe::bfloat16>(rows * k, 4);
    std::vector<float> all(tokens * rows), one(rows);
    moe::cpu::kernels::dot_product_block<moe::bfloat16>(x.data(), k, tokens, w.data(), k, rows, k, all.data(), rows);
    for (std::int64_t t = 0; t < tokens; ++t) {
        moe::cpu::kernels::dot_product_block<moe::bfloat16>(x.data() + t * k, k, 1, w.data(), k, rows, k, one.data(), rows);
        for (std::int64_t r = 0; r < rows; ++r) REQUIRE(one[static_cast<std::size_t>(r)] == all[static_cast<std::size_t>(t * rows + r)]);
    }
}

TEST_CASE("gate_up_block and down_block equal plain SwiGLU loops", "[perf_kernels]") {
    constexpr std::int64_t D = 80, F = 72;
    for (std::int64_t tokens : {1, 4, 9}) {
        const auto x = random_floats(tokens * D, 11);
        const auto gate = random_weights<moe::bfloat16>(F * D, 12), up = random_weights<moe::bfloat16>(F * D, 13);
        const auto down = random_weights<moe::bfloat16>(D * F, 14);
        std::vector<float> act(static_cast<std::size_t>(tokens * F)), y(static_cast<std::size_t>(tokens * D));
        const moe::matrix_view<const float> xv{x.data(), tokens, D};
        const moe::matrix_view<const moe::bfloat16> gv{gate.data(), F, D}, uv{up.data(), F, D}, dv{down.data(), D, F};
        moe::cpu::small_batch_tokens_of<moe::bfloat16> prepared;
        prepared.prepare(xv);
        for (std::int64_t first = 0; first < F; first += 64)
            moe::cpu::gate_up_block<moe::bfloat16>(prepared, gv, uv, first, std::min<std::int64_t>(64, F - first), {act.data(), tokens, F});
        prepared.prepare({act.data(), tokens, F});
        for (std::int64_t first = 0; first < D; first += 64)
            moe::cpu::down_block<moe::bfloat16>(prepared, dv, first, std::min<std::int64_t>(64, D - first), {y.data(), tokens, D});
        for (std::int64_t t = 0; t < tokens; ++t) {
            for (std::int64_t f = 0; f < F; ++f) {
                const double g = exact_dot(x.data() + t * D, gate.data() + f * D, D);
                const double u = exact_dot(x.data() + t * D, up.data() + f * D, D);
                const double want = g / (1 + std::exp(-g)) * u;
                REQUIRE(std::abs(act[static_cast<std::size_t>(t * F + f)] - want) <= 1e-3 * (1 + std::abs(want)));
            }
            for (std::int64_t d = 0; d < D; ++d) {
                const double want = exact_dot(act.data() + t * F, down.data() + d * F, F);
                REQUIRE(std::abs(y[static_cast<std::size_t>(t * D + d)] - want) <= 1e-3 * (1 + std::abs(want)));
            }
        }
    }
}

TEST_CASE("linear is bit-identical for 1, 2 and 3 threads and matches a loop", "[perf_kernels]") {
    constexpr std::int64_t in = 200, out = 300, tokens = 7;
    const auto x = random_floats(tokens * in, 21);
    const auto w = random_weights<float>(out * in, 22), b = random_weights<float>(out, 23);
    std::vector<float> y1(tokens * out), y2(tokens * out), y3(tokens * out);
    const moe::matrix_view<const float> xv{x.data(), tokens, in}, wv{w.data(), out, in}, bv{b.data(), 1, out};
    moe::cpu::thread_pool p1(1), p2(2), p3(3);
    moe::cpu::linear<float>(xv, wv, bv, {y1.data(), tokens, out}, p1);
    moe::cpu::linear<float>(xv, wv, bv, {y2.data(), tokens, out}, p2);
    moe::cpu::linear<float>(xv, wv, bv, {y3.data(), tokens, out}, p3);
    REQUIRE(y1 == y2);
    REQUIRE(y1 == y3);
    for (std::int64_t t = 0; t < tokens; ++t)
        for (std::int64_t o = 0; o < out; ++o) {
            const double want = exact_dot(x.data() + t * in, w.data() + o * in, in) + b[static_cast<std::size_t>(o)];
            REQUIRE(std::abs(y1[static_cast<std::size_t>(t * out + o)] - want) <= 1e-4 * in);
        }
}

TEST_CASE("thread_pool runs every item once, back to back, and rethrows", "[perf_kernels]") {
    moe::cpu::thread_pool pool(3);
    for (int round = 0; round < 2000; ++round) {  // many short jobs: the spinning hand-over between jobs
        const std::int64_t items = 1 + round % 17;
        std::vector<std::atomic<int>> hits(static_cast<std::size_t>(items));
        pool.parallel_for(items, [&](std::int64_t i) { hits[static_cast<std::size_t>(i)].fetch_add(1); });
        for (auto& h : hits) REQUIRE(h.load() == 1);
    }
    REQUIRE_THROWS_AS(pool.parallel_for(50, [](std::int64_t i) { if (i == 7) throw std::runtime_error("item 7"); }),
                      std::runtime_error);
    std::atomic<int> after{0};
    pool.parallel_for(10, [&](std::int64_t) { after.fetch_add(1); });
    REQUIRE(after.load() == 10);
}

namespace {

// Values spread over 2^-30 .. 2^30 with random signs: any change in the order of the additions changes the bits.
template <class Storage>
std::vector<Storage> spread_values(std::int64_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
    const int range = std::is_same_v<Storage, moe::float16> ? 12 : 30;  // fp16 stays finite
    std::vector<Storage> v(static_cast<std::size_t>(n));
    for (auto& e : v) {
        const float f = (rng() % 2 ? -1.0f : 1.0f) * std::ldexp(mantissa(rng), static_cast<int>(rng() % (2 * range + 1)) - range);
        if constexpr (std::is_same_v<Storage, float>) e = f;
        else e = Storage(f);
    }
    return v;
}

template <class Storage>
void check_spread(std::int64_t tokens, std::int64_t rows, std::int64_t k) {
    const auto x = spread_values<float>(tokens * k, 100 + static_cast<std::uint64_t>(tokens * 1000 + rows * 10 + k));
    const auto w = spread_values<Storage>(rows * k, 200 + static_cast<std::uint64_t>(k));
    std::vector<float> out(static_cast<std::size_t>(tokens * rows));
    moe::cpu::kernels::dot_product_block<Storage>(x.data(), k, tokens, w.data(), k, rows, k, out.data(), rows);
    for (std::int64_t t = 0; t < tokens; ++t)
        for (std::int64_t r = 0; r < rows; ++r) {
            const float want = moe::cpu::kernels::dot_product_reference(x.data() + t * k, w.data() + r * k, k);
            INFO("tokens " << tokens << " rows " << rows << " k " << k << " t " << t << " r " << r);
            REQUIRE(std::bit_cast<std::uint32_t>(out[static_cast<std::size_t>(t * rows + r)]) == std::bit_cast<std::uint32_t>(want));
        }
}

}  // namespace

TEST_CASE("x86-64-v3 builds run the AVX2 dot tiles, bit-identical to the loop on widely spread values", "[perf_kernels][avx2]") {
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && !defined(__AVX512F__)
#if !defined(MOE_HAVE_AVX2_TILES)
    FAIL("an AVX2 + FMA + F16C target without AVX-512 must compile the AVX2 tiles in");
#endif
#endif
#if defined(__FMA__) || defined(__AVX512F__)
    // Every tile shape the block uses (1 row × 1–5 tokens, 4 rows × 3–5 tokens, sub-tile splits), every tail.
    for (std::int64_t tokens : {1, 2, 3, 4, 5, 8})
        for (std::int64_t rows : {1, 2, 4, 5})
            for (std::int64_t k : {7, 16, 48, 100, 1024}) {
                check_spread<float>(tokens, rows, k);
                check_spread<moe::bfloat16>(tokens, rows, k);
                check_spread<moe::float16>(tokens, rows, k);
            }
#else
    SUCCEED("no FMA on this target: the portable loop is the only path");
#endif
}

// The cases above pass on the portable loop too; this checks that an AArch64 build compiled the NEON fmla tiles
// (include/moe/cpu/kernels/neon/f32_tiles.hpp), which dot_product_block, the GEMM and bf16_compute then run.
TEST_CASE("an AArch64 build compiles the NEON tiles", "[perf_kernels]") {
#if defined(MOE_HAVE_NEON_TILES)
    constexpr bool neon_tiles = true;
#else
    constexpr bool neon_tiles = false;
#endif
#if defined(__aarch64__)
    REQUIRE(neon_tiles);
#else
    REQUIRE_FALSE(neon_tiles);
#endif
}

}  // namespace test_dot_tiles_vs_loop
