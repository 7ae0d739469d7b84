// kernels::bf16_dot_product_block (weight_format::bf16_compute) against its plain-loop definition, against the
// hardware instruction where the CPU has AVX512-BF16 (the portable loop must be bit-identical to vdpbf16ps), and
// against a double-precision dot product of the bf16-rounded operands.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "moe/cpu/kernels/bf16_dot_tiles.hpp"
#include "moe/cpu/swiglu_kernels.hpp"
#include "moe/runtime/thread_pool.hpp"

#if defined(MOE_HAVE_AVX2_TILES)
#include <immintrin.h>
#endif

namespace test_bf16_dot_tiles {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe::bfloat16;
namespace kernels = moe::cpu::kernels;

// Values spread over 2^-20 .. 2^4 with random signs, plus some exact zeros, denormals and huge values, so the
// flush-to-zero and rounding paths are exercised.
std::vector<bfloat16> random_bf16(std::int64_t n, std::uint64_t seed, bool extremes) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<bfloat16> v(static_cast<std::size_t>(n));
    for (auto& b : v) {
        const int pick = static_cast<int>(rng() % 50);
        if (extremes && pick == 0) b.bits = 0;
        else if (extremes && pick == 1) b.bits = static_cast<std::uint16_t>(0x0001u + rng() % 0x7f);  // denormal
        else if (extremes && pick == 2) b = bfloat16(normal(rng) * 1e30f);
        else b = bfloat16(normal(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 25) - 20));
    }
    return v;
}

double exact_dot(const bfloat16* x, const bfloat16* w, std::int64_t k) {
    double s = 0;
    for (std::int64_t d = 0; d < k; ++d) s += double(moe::to_float(x[d])) * double(moe::to_float(w[d]));
    return s;
}

void check_block(std::int64_t tokens, std::int64_t rows, std::int64_t k, bool extremes) {
    const auto seed = static_cast<std::uint64_t>(tokens * 1000 + rows * 10 + k);
    const auto x = random_bf16(tokens * k, 1 + seed, extremes);
    const auto w = random_bf16(rows * k, 2 + seed, extremes);
    const std::int64_t stride = rows + 3;
    for (bool portable : {false, true}) {
        std::vector<float> out(static_cast<std::size_t>(tokens * stride), -123.0f);
        kernels::bf16_dot_product_block(x.data(), k, tokens, w.data(), k, rows, k, out.data(), stride, portable);
        for (std::int64_t t = 0; t < tokens; ++t) {
            for (std::int64_t r = 0; r < rows; ++r) {
                const float got = out[static_cast<std::size_t>(t * stride + r)];
                const float want = kernels::bf16_dot_product_reference(x.data() + t * k, w.data() + r * k, k);
                // Bit-identical to the definition: on the portable path by construction, on the vdpbf16ps path
                // because the instruction computes exactly this order (checked here on every CPU that has it).
                INFO("tokens " << tokens << " rows " << rows << " k " << k << " portable " << portable);
                REQUIRE(std::bit_cast<std::uint32_t>(got) == std::bit_cast<std::uint32_t>(want));
                if (!extremes) {
                    double magnitude = 0;
                    for (std::int64_t d = 0; d < k; ++d)
                        magnitude += std::abs(double(moe::to_float(x[t * k + d])) * double(moe::to_float(w[r * k + d])));
                    // fp32 accumulation of exact products: error ≤ (k/16 + 4) · 2^-24 · Σ|products| (lane chains + tree).
                    const double bound = (double(k) / 16 + 6) * std::ldexp(1.0, -24) * magnitude + 1e-30;
                    REQUIRE(std::abs(double(got) - exact_dot(x.data() + t * k, w.data() + r * k, k)) <= bound);
                }
            }
            for (std::int64_t r = rows; r < stride; ++r) REQUIRE(out[static_cast<std::size_t>(t * stride + r)] == -123.0f);
        }
    }
}

}  // namespace

TEST_CASE("bf16 x bf16 tiles equal their definition for every tile shape and tail", "[perf_kernels]") {
    INFO("vdpbf16ps path compiled in: " << kernels::bf16_dot_uses_avx512);
    for (std::int64_t tokens : {1, 2, 3, 5, 6, 11}) {
        for (std::int64_t rows : {1, 4, 9}) {
            for (std::int64_t k : {1, 31, 32, 33, 96, 1024, 1040}) {
                check_block(tokens, rows, k, false);
                check_block(tokens, rows, k, true);
            }
        }
    }
}

TEST_CASE("bf16_compute products round activations to bf16 and are thread-count independent", "[perf_kernels]") {
    constexpr std::int64_t D = 96, F = 200, tokens = 7;
    std::mt19937_64 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<std::size_t>(tokens * D));
    for (auto& v : x) v = normal(rng);
    const auto w_bits = random_bf16(F * D, 6, false);
    std::vector<moe::bfloat16_compute> w(w_bits.size());
    for (std::size_t i = 0; i < w.size(); ++i) w[i].bits = w_bits[i].bits;
    const moe::matrix_view<const float> xv{x.data(), tokens, D};
    const moe::matrix_view<const moe::bfloat16_compute> wv{w.data(), F, D};
    std::vector<float> y1(static_cast<std::size_t>(tokens * F)), y2(y1.size());
    moe::cpu::thread_pool p1(1), p2(2);
    for (auto* y : {&y1, &y2}) {
        auto& pool = y == &y1 ? p1 : p2;
        pool.parallel_for((F + 63) / 64, [&](std::int64_t item) {
            const std::int64_t first = item * 64;
            moe::cpu::small_batch_product<moe::bfloat16_compute>(xv, wv, first, std::min<std::int64_t>(64, F - first),
                                                                 y->data() + first, F);
        });
    }
    REQUIRE(y1 == y2);
    for (std::int64_t t = 0; t < tokens; ++t) {
        std::vector<bfloat16> rounded(static_cast<std::size_t>(D));
        for (std::int64_t d = 0; d < D; ++d) rounded[static_cast<std::size_t>(d)] = bfloat16(x[static_cast<std::size_t>(t * D + d)]);
        for (std::int64_t f = 0; f < F; ++f) {
            // 7 tokens: the bf16 GEMM's order (one chain of pairs); its first 3 tokens alone: the dot tiles' order.
            const float want = kernels::bf16_gemm_reference(x.data() + t * D, w_bits.data() + f * D, D);
            REQUIRE(y1[static_cast<std::size_t>(t * F + f)] == want);
            if (t < 3) {
                const float dot = kernels::bf16_dot_product_reference(rounded.data(), w_bits.data() + f * D, D);
                float mine[16];  // 3 used; larger so GCC 12 does not flag the (unreachable) 4-row tile path
                moe::cpu::small_batch_product<moe::bfloat16_compute>({x.data(), 3, D}, wv, f, 1, mine, 1);
                REQUIRE(mine[t] == dot);
            }
        }
    }
}

TEST_CASE("bf16 x bf16 GEMM tiles equal their definition for every tile shape, odd K and padding", "[perf_kernels]") {
    for (std::int64_t tokens : {5, 16, 17, 33, 40, 56}) {
        for (std::int64_t rows : {1, 8, 9, 16, 17}) {
            for (std::int64_t k : {1, 2, 31, 64, 257}) {
                const auto seed = static_cast<std::uint64_t>(tokens * 10000 + rows * 100 + k);
                std::mt19937_64 rng(seed);
                std::normal_distribution<float> normal(0.0f, 1.0f);
                std::vector<float> x(static_cast<std::size_t>(tokens * k));
                for (auto& v : x) v = normal(rng);
                // The weight matrix ends exactly at the end of its allocation: an odd K must not read past it.
                const auto w = random_bf16(rows * k, seed + 1, false);
                const std::int64_t np = kernels::padded_tokens(tokens);
                std::vector<std::uint32_t> xp(static_cast<std::size_t>(kernels::bf16_pairs(k) * np), 0xdeadbeefu);
                kernels::pack_bf16_pairs(x.data(), k, tokens, k, xp.data());
                for (bool portable : {false, true}) {
                    std::vector<float> ct(static_cast<std::size_t>(rows * np), -5.0f);
                    kernels::bf16_gemm_block_transposed(xp.data(), np, w.data(), k, rows, k, ct.data(), portable);
                    for (std::int64_t r = 0; r < rows; ++r)
                        for (std::int64_t t = 0; t < np; ++t) {
                            const float got = ct[static_cast<std::size_t>(r * np + t)];
                            INFO("tokens " << tokens << " rows " << rows << " k " << k << " portable " << portable);
                            if (t >= tokens) {
                                REQUIRE(got == 0.0f);  // padded tokens are zero
                                continue;
                            }
                            const float want = kernels::bf16_gemm_reference(x.data() + t * k, w.data() + r * k, k);
                            REQUIRE(std::bit_cast<std::uint32_t>(got) == std::bit_cast<std::uint32_t>(want));
                        }
                }
            }
        }
    }
}

TEST_CASE("bf16_compute products above 4 tokens run the bf16 GEMM and match the packed SwiGLU path", "[perf_kernels]") {
    constexpr std::int64_t D = 66, F = 130, tokens = 9;
    std::mt19937_64 rng(8);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<std::size_t>(tokens * D));
    for (auto& v : x) v = normal(rng);
    auto to_compute = [](const std::vector<bfloat16>& b) {
        std::vector<moe::bfloat16_compute> c(b.size());
        for (std::size_t i = 0; i < b.size(); ++i) c[i].bits = b[i].bits;
        return c;
    };
    const auto gate_bits = random_bf16(F * D, 9, false), up_bits = random_bf16(F * D, 10, false);
    const auto gate = to_compute(gate_bits), up = to_compute(up_bits);
    const moe::matrix_view<const moe::bfloat16_compute> gv{gate.data(), F, D}, uv{up.data(), F, D};
    // Unpacked: small_batch_product per block (packs per call); packed: gate_up_block_packed (packs once).
    std::vector<float> g(static_cast<std::size_t>(tokens * F)), u(g.size());
    moe::cpu::small_batch_product<moe::bfloat16_compute>({x.data(), tokens, D}, gv, 0, F, g.data(), F);
    moe::cpu::small_batch_product<moe::bfloat16_compute>({x.data(), tokens, D}, uv, 0, F, u.data(), F);
    for (std::int64_t t = 0; t < tokens; ++t)
        for (std::int64_t f = 0; f < F; ++f)
            REQUIRE(g[static_cast<std::size_t>(t * F + f)] ==
                    kernels::bf16_gemm_reference(x.data() + t * D, gate_bits.data() + f * D, D));
    const std::int64_t np = kernels::padded_tokens(tokens);
    std::vector<std::uint32_t> xp(static_cast<std::size_t>(moe::cpu::packed_size<moe::bfloat16_compute>(tokens, D))),
        act(static_cast<std::size_t>(moe::cpu::packed_size<moe::bfloat16_compute>(tokens, F)));
    moe::cpu::pack_activations<moe::bfloat16_compute>({x.data(), tokens, D}, xp.data());
    for (std::int64_t first = 0; first < F; first += 64)
        moe::cpu::gate_up_block_packed<moe::bfloat16_compute>(xp.data(), tokens, gv, uv, first, std::min<std::int64_t>(64, F - first), act.data());
    for (std::int64_t f = 0; f < F; ++f)
        for (std::int64_t t = 0; t < tokens; ++t) {
            const float gf = g[static_cast<std::size_t>(t * F + f)], uf = u[static_cast<std::size_t>(t * F + f)];
            const std::uint16_t want = bfloat16::from_float(moe::cpu::silu(gf) * uf);
            const std::uint32_t word = act[static_cast<std::size_t>(f / 2 * np + t)];
            REQUIRE(static_cast<std::uint16_t>(f % 2 == 0 ? word & 0xffffu : word >> 16) == want);
        }
}

TEST_CASE("AVX2 bf16_compute tiles: exact FMAs, the portable loop when a denormal is met, MXCSR left as found",
          "[perf_kernels][avx2]") {
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && !defined(__AVX512F__)
#if !defined(MOE_HAVE_AVX2_TILES)
    FAIL("an AVX2 + FMA + F16C target without AVX-512 must compile the AVX2 tiles in");
#endif
#endif
#if defined(MOE_HAVE_AVX2_TILES)
    constexpr std::int64_t k = 77, rows = 5, tokens = 3;
    const auto x = random_bf16(tokens * k, 31, false);
    const auto w = random_bf16(rows * k, 32, false);
    auto tiny = w;                                   // products near 2^-140: results below 2^-126, flushed by the definition
    auto denormal = w;                               // one denormal weight: read as zero by the definition
    for (auto& v : tiny) v = bfloat16(std::ldexp(moe::to_float(v), -70));
    auto x_tiny = x;
    for (auto& v : x_tiny) v = bfloat16(std::ldexp(moe::to_float(v), -70));
    denormal[static_cast<std::size_t>(2 * k + 5)].bits = 0x0003;
    struct scenario {
        const char* name;
        const std::vector<bfloat16>& x;
        const std::vector<bfloat16>& w;
        bool fast;  // whether the AVX2 tiles' result stands
    };
    const scenario scenarios[] = {{"normal values", x, w, true}, {"a denormal weight", x, denormal, false},
                                  {"underflowing sums", x_tiny, tiny, false}};
    // The caller's MXCSR, with FTZ and DAZ on (as -ffast-math programs run): the tiles must not depend on it
    // and must leave it as it was.
    const unsigned caller = _mm_getcsr();
    for (const auto& s : scenarios) {
        INFO(s.name);
        std::vector<float> out(static_cast<std::size_t>(tokens * rows)), fast(out.size());
        REQUIRE(kernels::avx2::bf16_dot_product_block(s.x.data(), k, tokens, s.w.data(), k, rows, k, fast.data(), rows) == s.fast);
        _mm_setcsr((caller & ~0x3fu) | 0x8040u);
        kernels::bf16_dot_product_block(s.x.data(), k, tokens, s.w.data(), k, rows, k, out.data(), rows);
        const unsigned after = _mm_getcsr();
        _mm_setcsr(caller);
        REQUIRE((after & ~0x3fu) == ((caller & ~0x3fu) | 0x8040u));  // control bits as the caller set them
        for (std::int64_t t = 0; t < tokens; ++t)
            for (std::int64_t r = 0; r < rows; ++r) {
                const float want = kernels::bf16_dot_product_reference(s.x.data() + t * k, s.w.data() + r * k, k);
                REQUIRE(std::bit_cast<std::uint32_t>(out[static_cast<std::size_t>(t * rows + r)]) == std::bit_cast<std::uint32_t>(want));
            }
        // The GEMM the same way: 16 + 8 tokens, rows 5 (a 4-row tile and a rest of 1), odd K across no chunk.
        constexpr std::int64_t n = 24;
        std::vector<float> xf(static_cast<std::size_t>(n * k));
        for (std::int64_t i = 0; i < n * k; ++i) xf[static_cast<std::size_t>(i)] = moe::to_float(s.x[static_cast<std::size_t>(i % (tokens * k))]);
        const std::int64_t np = kernels::padded_tokens(n);
        std::vector<std::uint32_t> xp(static_cast<std::size_t>(kernels::bf16_pairs(k) * np));
        kernels::pack_bf16_pairs(xf.data(), k, n, k, xp.data());
        std::vector<float> ct(static_cast<std::size_t>(rows * np));
        REQUIRE(kernels::avx2::bf16_gemm_block_transposed(xp.data(), np, s.w.data(), k, rows, k, ct.data()) == s.fast);
        _mm_setcsr((caller & ~0x3fu) | 0x8040u);
        kernels::bf16_gemm_block_transposed(xp.data(), np, s.w.data(), k, rows, k, ct.data());
        const unsigned after_gemm = _mm_getcsr();
        _mm_setcsr(caller);
        REQUIRE((after_gemm & ~0x3fu) == ((caller & ~0x3fu) | 0x8040u));
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t t = 0; t < n; ++t) {
                const float want = kernels::bf16_gemm_reference(xf.data() + t * k, s.w.data() + r * k, k);
                REQUIRE(std::bit_cast<std::uint32_t>(ct[static_cast<std::size_t>(r * np + t)]) == std::bit_cast<std::uint32_t>(want));
            }
    }
#else
    SUCCEED("not an AVX2-only target: the AVX-512 or portable paths are checked above");
#endif
}

// Every lane's sum passes through the denormal range: the odd product is 2^-125, the even one −1.5 · 2^-126, so
// the lane holds 2^-127 after its second fma and the instruction's flush-to-zero makes it +0. A path that skipped
// the flush (ARM's fmla and bfdot keep denormals by default) would return 16 · 2^-127 per 32 k instead (the GEMM:
// 2^-127, then normal sums).
TEST_CASE("bf16 x bf16 tiles flush a lane that ends a step denormal, on every path", "[perf_kernels]") {
    const bfloat16 a = bfloat16(-1.5f * std::ldexp(1.0f, -63)), b = bfloat16(std::ldexp(1.0f, -62));
    const bfloat16 c = bfloat16(std::ldexp(1.0f, -63)), d = bfloat16(std::ldexp(1.0f, -63));
    for (std::int64_t k : {2, 32, 64, 70}) {
        std::vector<bfloat16> x(static_cast<std::size_t>(5 * k)), w(static_cast<std::size_t>(4 * k));
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = i % 2 == 0 ? a : b;
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = i % 2 == 0 ? c : d;
        for (std::int64_t tokens = 1; tokens <= 5; ++tokens)
            for (bool portable : {false, true}) {
                std::vector<float> out(static_cast<std::size_t>(tokens * 4), -1.0f);
                kernels::bf16_dot_product_block(x.data(), k, tokens, w.data(), k, 4, k, out.data(), 4, portable);
                INFO("k " << k << " tokens " << tokens << " portable " << portable);
                for (float v : out) REQUIRE(v == 0.0f);
            }
        // The GEMM (5 or more tokens): one chain per output over pairs, each pair ending at 2^-127 → +0.
        for (std::int64_t tokens : {5, 16, 24}) {
            std::vector<float> xf(static_cast<std::size_t>(tokens * k));
            for (std::size_t i = 0; i < xf.size(); ++i) xf[i] = moe::to_float(i % 2 == 0 ? a : b);
            const std::int64_t np = kernels::padded_tokens(tokens);
            std::vector<std::uint32_t> xp(static_cast<std::size_t>(kernels::bf16_pairs(k) * np));
            kernels::pack_bf16_pairs(xf.data(), k, tokens, k, xp.data());
            for (bool portable : {false, true}) {
                std::vector<float> ct(static_cast<std::size_t>(4 * np), -1.0f);
                kernels::bf16_gemm_block_transposed(xp.data(), np, w.data(), k, 4, k, ct.data(), portable);
                INFO("GEMM k " << k << " tokens " << tokens << " portable " << portable);
                for (float v : ct) REQUIRE(v == 0.0f);
            }
        }
        // Not flushed, the same data sums to a positive value: the check above can fail.
        REQUIRE(double(moe::to_float(a)) * moe::to_float(c) + double(moe::to_float(b)) * moe::to_float(d) > 0);
    }
}

}  // namespace test_bf16_dot_tiles
