// kernels::gemm_block_transposed (the prefill GEMM tiles) against its plain-loop definition for every tile shape,
// chunk boundary and token padding; the packed SwiGLU blocks against plain loops; thread-count independence.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "moe/cpu/kernels/gemm_tiles.hpp"
#include "moe/cpu/swiglu_kernels.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "kernel_test_support.hpp"

namespace test_gemm_tiles {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

namespace kernels = moe::cpu::kernels;

using moe_test::exact_dot;
using moe_test::random_values;

template <class Storage>
void check_gemm(std::int64_t tokens, std::int64_t rows, std::int64_t k) {
    const auto seed = static_cast<std::uint64_t>(tokens * 100000 + rows * 100 + k);
    const auto x = random_values<float>(tokens * k, seed);
    const auto w = random_values<Storage>(rows * k, seed + 1);
    const std::int64_t np = kernels::padded_tokens(tokens);
    std::vector<float> xt(static_cast<std::size_t>(k * np), -7.0f), ct(static_cast<std::size_t>(rows * np), -7.0f);
    kernels::pack_transposed(x.data(), k, tokens, k, xt.data());
    for (std::int64_t d = 0; d < k; ++d)
        for (std::int64_t t = tokens; t < np; ++t) REQUIRE(xt[static_cast<std::size_t>(d * np + t)] == 0.0f);
    kernels::gemm_block_transposed(xt.data(), np, w.data(), k, rows, k, ct.data());
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t t = 0; t < tokens; ++t) {
            const float got = ct[static_cast<std::size_t>(r * np + t)];
            const float want = kernels::gemm_reference(x.data() + t * k, w.data() + r * k, k);
            INFO("tokens " << tokens << " rows " << rows << " k " << k << " r " << r << " t " << t);
#if defined(__FMA__) || defined(__AVX512F__) || defined(__ARM_FEATURE_FMA)
            REQUIRE(got == want);  // one FMA chain in increasing k: bit-identical to the loop
#endif
            REQUIRE(std::abs(double(got) - exact_dot(x.data() + t * k, w.data() + r * k, k)) <= 1e-5 * double(k));
        }
}

}  // namespace

TEST_CASE("GEMM tiles equal their definition for every tile shape, chunk and padding", "[perf_kernels]") {
    for (std::int64_t tokens : {5, 16, 17, 32, 33, 48, 56, 70}) {
        for (std::int64_t rows : {1, 7, 8, 9, 16, 17, 64}) {
            for (std::int64_t k : {1, 15, 256, 257, 600}) {
                check_gemm<float>(tokens, rows, k);
                check_gemm<moe::bfloat16>(tokens, rows, k);
                check_gemm<moe::float16>(tokens, rows, k);
            }
        }
    }
}

TEST_CASE("small_batch_product above 4 tokens runs the GEMM order; below, the dot-product order", "[perf_kernels]") {
    constexpr std::int64_t k = 300, rows = 20;
    const auto w = random_values<moe::bfloat16>(rows * k, 31);
    for (std::int64_t tokens : {1, 4, 5, 9}) {
        const auto x = random_values<float>(tokens * k, 30 + static_cast<std::uint64_t>(tokens));
        std::vector<float> out(static_cast<std::size_t>(tokens * rows));
        moe::cpu::small_batch_product<moe::bfloat16>({x.data(), tokens, k}, {w.data(), rows, k}, 0, rows, out.data(), rows);
        for (std::int64_t t = 0; t < tokens; ++t)
            for (std::int64_t r = 0; r < rows; ++r) {
                const float want = moe::cpu::uses_packed_gemm(tokens)
                                       ? kernels::gemm_reference(x.data() + t * k, w.data() + r * k, k)
                                       : kernels::dot_product_reference(x.data() + t * k, w.data() + r * k, k);
#if defined(__FMA__) || defined(__AVX512F__) || defined(__ARM_FEATURE_FMA)
                REQUIRE(out[static_cast<std::size_t>(t * rows + r)] == want);
#endif
                REQUIRE(std::abs(out[static_cast<std::size_t>(t * rows + r)] - want) <= 1e-4f);
            }
    }
}

TEST_CASE("packed SwiGLU blocks equal plain loops and do not depend on the thread count", "[perf_kernels]") {
    constexpr std::int64_t D = 96, F = 136;
    for (std::int64_t tokens : {5, 21, 40}) {
        const auto x = random_values<float>(tokens * D, 41);
        const auto gate = random_values<moe::bfloat16>(F * D, 42), up = random_values<moe::bfloat16>(F * D, 43);
        const auto down = random_values<moe::bfloat16>(D * F, 44);
        const moe::matrix_view<const moe::bfloat16> gv{gate.data(), F, D}, uv{up.data(), F, D}, dv{down.data(), D, F};
        const std::int64_t np = kernels::padded_tokens(tokens);
        std::vector<float> results[2];
        for (int threads : {1, 3}) {
            moe::cpu::thread_pool pool(threads);
            std::vector<float> xt(static_cast<std::size_t>(D * np)), act(static_cast<std::size_t>(F * np), -1.0f);
            std::vector<float> y(static_cast<std::size_t>(tokens * D));
            moe::cpu::pack_activations<moe::bfloat16>({x.data(), tokens, D}, xt.data());
            pool.parallel_for((F + 63) / 64, [&](std::int64_t item) {
                moe::cpu::gate_up_block_packed<moe::bfloat16>(xt.data(), tokens, gv, uv, item * 64,
                                                              std::min<std::int64_t>(64, F - item * 64), act.data());
            });
            for (std::int64_t f = 0; f < F; ++f)
                for (std::int64_t t = tokens; t < np; ++t) REQUIRE(act[static_cast<std::size_t>(f * np + t)] == 0.0f);
            pool.parallel_for((D + 63) / 64, [&](std::int64_t item) {
                moe::cpu::down_block_packed<moe::bfloat16>(act.data(), tokens, dv, item * 64,
                                                           std::min<std::int64_t>(64, D - item * 64), {y.data(), tokens, D});
            });
            for (std::int64_t t = 0; t < tokens; ++t) {
                std::vector<double> a(static_cast<std::size_t>(F));
                for (std::int64_t f = 0; f < F; ++f) {
                    const double g = exact_dot(x.data() + t * D, gate.data() + f * D, D);
                    const double u = exact_dot(x.data() + t * D, up.data() + f * D, D);
                    a[static_cast<std::size_t>(f)] = g / (1 + std::exp(-g)) * u;
                    REQUIRE(std::abs(act[static_cast<std::size_t>(f * np + t)] - a[static_cast<std::size_t>(f)]) <=
                            1e-4 * (1 + std::abs(a[static_cast<std::size_t>(f)])));
                }
                for (std::int64_t d = 0; d < D; ++d) {
                    double want = 0;
                    for (std::int64_t f = 0; f < F; ++f) want += a[static_cast<std::size_t>(f)] * double(moe::to_float(down[static_cast<std::size_t>(d * F + f)]));
                    REQUIRE(std::abs(y[static_cast<std::size_t>(t * D + d)] - want) <= 1e-3 * (1 + std::abs(want)));
                }
            }
            results[threads == 1 ? 0 : 1] = y;
        }
        REQUIRE(results[0] == results[1]);
    }
}

TEST_CASE("x86-64-v3 builds run the AVX2 GEMM tiles, bit-identical to the chain on widely spread values", "[perf_kernels][avx2]") {
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && !defined(__AVX512F__)
#if !defined(MOE_HAVE_AVX2_TILES)
    FAIL("an AVX2 + FMA + F16C target without AVX-512 must compile the AVX2 tiles in");
#endif
#endif
#if defined(__FMA__) || defined(__AVX512F__)
    // Every remainder of the 6-row and 12-row tiles, 16- and 8-token groups, K across chunk boundaries; values
    // spread over 2^-30 .. 2^30 so that any other order of the additions changes the bits.
    auto spread = [](std::int64_t n, std::uint64_t seed) {
        std::mt19937_64 rng(seed);
        std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
        std::vector<float> v(static_cast<std::size_t>(n));
        for (auto& e : v) e = (rng() % 2 ? -1.0f : 1.0f) * std::ldexp(mantissa(rng), static_cast<int>(rng() % 61) - 30);
        return v;
    };
    for (std::int64_t tokens : {5, 8, 16, 24, 40})
        for (std::int64_t rows = 1; rows <= 14; ++rows)
            for (std::int64_t k : {3, 256, 300}) {
                const auto seed = static_cast<std::uint64_t>(tokens * 100000 + rows * 100 + k);
                const auto x = spread(tokens * k, seed), w = spread(rows * k, seed + 1);
                const std::int64_t np = kernels::padded_tokens(tokens);
                std::vector<float> xt(static_cast<std::size_t>(k * np)), ct(static_cast<std::size_t>(rows * np));
                kernels::pack_transposed(x.data(), k, tokens, k, xt.data());
                kernels::gemm_block_transposed(xt.data(), np, w.data(), k, rows, k, ct.data());
                for (std::int64_t r = 0; r < rows; ++r)
                    for (std::int64_t t = 0; t < tokens; ++t) {
                        INFO("tokens " << tokens << " rows " << rows << " k " << k << " r " << r << " t " << t);
                        REQUIRE(ct[static_cast<std::size_t>(r * np + t)] ==
                                kernels::gemm_reference(x.data() + t * k, w.data() + r * k, k));
                    }
            }
#else
    SUCCEED("no FMA on this target: the portable loop is the only path");
#endif
}

}  // namespace test_gemm_tiles
