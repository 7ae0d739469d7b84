// weight_format::gguf_mixed: every matrix runs the kernels of its own block type, so a gguf_mixed matrix of type T
// must give bit for bit what the fixed format T gives on the same blocks — linear (decode tiles for n ≤ 4, the
// packed GEMM above), the SwiGLU runner with gate, up and down of different types (down's input packed both ways),
// read_matrix_rows / widen_rows, and sub_rows keeping the type. The reference is the fixed formats' own kernels
// (each tested against its plain-loop definition in test_q8_tiles / test_kquant_kernels) and, for a SwiGLU of
// mixed types, the three fixed linear products composed by hand.
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "moe/cpu/formats.hpp"
#include "moe/cpu/linear.hpp"
#include "moe/cpu/swiglu_runner.hpp"
#include "moe/cpu/widen_rows.hpp"
#include "moe/tensor/read_rows.hpp"
#include "moe/runtime/thread_pool.hpp"

namespace test_mixed_kernels {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe::matrix_view;
using moe::mixed_block;
using moe::weight_format;

std::vector<float> random_floats(std::int64_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = normal(rng) * (rng() % 97 == 0 ? 8.0f : 1.0f);
    return v;
}

bool same_bits(const moe::host_matrix<float>& a, const moe::host_matrix<float>& b) {
    if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
    return std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.rows() * a.cols()) * sizeof(float)) == 0;
}

// A (rows, k) matrix of Format's blocks from its quantizer, kept as bytes; viewed as the fixed format or as
// gguf_mixed (same bytes, the block type in the view).
template <weight_format Format>
struct test_matrix {
    using block = moe::storage_t<Format>;
    std::vector<block> blocks;
    std::int64_t rows, k;

    test_matrix(std::int64_t rows_, std::int64_t k_, std::uint64_t seed) : rows(rows_), k(k_) {
        using traits = moe::weight_format_traits<Format>;
        blocks.resize(static_cast<std::size_t>(rows * k / traits::block_width));
        const auto x = random_floats(rows * k, seed);
        for (std::int64_t r = 0; r < rows; ++r)
            traits::quantize_row(x.data() + r * k, k, blocks.data() + r * (k / traits::block_width));
    }
    matrix_view<const block> fixed() const { return {blocks.data(), rows, k}; }
    matrix_view<const mixed_block> mixed() const {
        return {reinterpret_cast<const mixed_block*>(blocks.data()), rows, k, moe::mixed_layout_of(Format)};
    }
};

moe::host_matrix<float> tokens(std::int64_t n, std::int64_t k, std::uint64_t seed) {
    moe::host_matrix<float> x(n, k);
    const auto v = random_floats(n * k, seed);
    std::copy(v.begin(), v.end(), x.data());
    return x;
}

template <weight_format Format>
void check_linear(std::int64_t k) {
    const test_matrix<Format> w(200, k, 11);  // 200 rows: three full row blocks and a partial one
    moe::cpu::thread_pool pool(3);
    for (const std::int64_t n : {1, 3, 4, 5, 17}) {  // decode tiles up to 4, packed GEMM above
        const auto x = tokens(n, k, 100 + static_cast<std::uint64_t>(n));
        moe::host_matrix<float> fixed(n, w.rows), mixed(n, w.rows);
        moe::cpu::linear<moe::storage_t<Format>>(x.view(), w.fixed(), fixed.view(), pool);
        moe::cpu::linear<mixed_block>(x.view(), w.mixed(), mixed.view(), pool);
        INFO(moe::name_of(Format) << ", K " << k << ", " << n << " tokens");
        REQUIRE(same_bits(fixed, mixed));
    }
}

TEST_CASE("a gguf_mixed matrix multiplies bit for bit as its fixed format", "[gguf_mixed]") {
    check_linear<weight_format::q8_0>(256);
    check_linear<weight_format::q8_0>(96);  // not a multiple of 256: no Q8_K packing at all
    check_linear<weight_format::q4_0>(512);
    check_linear<weight_format::q4_0>(160);
    check_linear<weight_format::q5_0>(512);
    check_linear<weight_format::q5_0>(160);
    check_linear<weight_format::q4_k>(512);
    check_linear<weight_format::q5_k>(256);
    check_linear<weight_format::q6_k>(768);
}

// y = down(silu(gate · x) ⊙ (up · x)) by three fixed-format linear calls: the products the runner makes per
// matrix, with the activations quantized for down exactly as its packing (prefill) or preparing (decode) does.
template <weight_format G, weight_format U, weight_format Dn>
moe::host_matrix<float> composed_swiglu(const moe::host_matrix<float>& x, const test_matrix<G>& gate,
                                        const test_matrix<U>& up, const test_matrix<Dn>& down,
                                        moe::cpu::thread_pool& pool) {
    const std::int64_t n = x.rows(), F = gate.rows;
    moe::host_matrix<float> g(n, F), u(n, F), a(n, F), y(n, down.rows);
    moe::cpu::linear<moe::storage_t<G>>(x.view(), gate.fixed(), g.view(), pool);
    moe::cpu::linear<moe::storage_t<U>>(x.view(), up.fixed(), u.view(), pool);
    for (std::int64_t t = 0; t < n; ++t)
        for (std::int64_t f = 0; f < F; ++f) a(t, f) = moe::silu(g(t, f)) * u(t, f);
    moe::cpu::linear<moe::storage_t<Dn>>(a.view(), down.fixed(), y.view(), pool);
    return y;
}

template <weight_format G, weight_format U, weight_format Dn>
void check_swiglu(std::int64_t d, std::int64_t f) {
    const test_matrix<G> gate(f, d, 21);
    const test_matrix<U> up(f, d, 22);
    const test_matrix<Dn> down(d, f, 23);
    for (const int threads : {1, 3}) {
        moe::cpu::thread_pool pool(threads);
        for (const std::int64_t n : {2, 4, 9}) {
            const auto x = tokens(n, d, 200 + static_cast<std::uint64_t>(n));
            const auto expected = composed_swiglu(x, gate, up, down, pool);
            moe::host_matrix<float> y(n, d);
            moe::cpu::swiglu_runner<mixed_block> runner;
            runner.run(x.view(), {gate.mixed(), up.mixed(), down.mixed()}, y.view(), pool);
            INFO("gate " << moe::name_of(G) << ", up " << moe::name_of(U) << ", down " << moe::name_of(Dn) << ", D "
                         << d << ", F " << f << ", " << n << " tokens, " << threads << " threads");
            REQUIRE(same_bits(expected, y));
        }
    }
}

TEST_CASE("a gguf_mixed SwiGLU with matrices of different types is the fixed formats' products composed",
          "[gguf_mixed]") {
    // Q4_K_M's FFNs: gate / up Q4_K, down Q4_K or Q6_K (use_more_bits layers)
    check_swiglu<weight_format::q4_k, weight_format::q4_k, weight_format::q6_k>(256, 512);
    check_swiglu<weight_format::q5_k, weight_format::q5_k, weight_format::q5_k>(512, 256);
    // A width that is not a multiple of 256 (DeepSeek-V2-Lite's 1408): llama.cpp falls back to 32-weight blocks
    // for down, whose input then has no Q8_K part; gate / up keep the K-quant.
    check_swiglu<weight_format::q4_k, weight_format::q4_k, weight_format::q8_0>(256, 288);
    // Q4_K_M's fallback for Q4_K there is Q5_0 (Qwen1.5-MoE, DeepSeek-V2-Lite)
    check_swiglu<weight_format::q4_k, weight_format::q4_k, weight_format::q5_0>(256, 352);
    check_swiglu<weight_format::q8_0, weight_format::q4_0, weight_format::q4_0>(96, 160);
    // down Q8_0 on a width that is a multiple of 256: its input's Q8_0 part
    check_swiglu<weight_format::q6_k, weight_format::q4_k, weight_format::q8_0>(256, 512);
}

template <weight_format Format>
void check_rows(std::int64_t k) {
    const test_matrix<Format> w(8, k, 31);
    using traits = moe::weight_format_traits<Format>;
    std::vector<float> expected(static_cast<std::size_t>(3 * k)), got(expected.size());
    traits::read_row(w.fixed().row(2), 3 * k, expected.data());  // rows 2, 3, 4
    moe::read_matrix_rows(w.mixed(), 2, 3, got.data());
    REQUIRE(std::memcmp(expected.data(), got.data(), expected.size() * sizeof(float)) == 0);
    // sub_rows keeps the block type: rows 2..4 as a matrix of their own, widened for Eigen.
    const auto part = moe::sub_rows(w.mixed(), 2, 3);
    REQUIRE(part.layout == w.mixed().layout);
    REQUIRE(part.data == reinterpret_cast<const mixed_block*>(w.fixed().row(2)));
    const auto wide = moe::cpu::widen_rows(part, 0, 3);
    for (std::int64_t r = 0; r < 3; ++r)
        for (std::int64_t c = 0; c < k; ++c) REQUIRE(wide(r, c) == expected[static_cast<std::size_t>(r * k + c)]);
}

TEST_CASE("gguf_mixed rows read as their block type", "[gguf_mixed]") {
    check_rows<weight_format::q8_0>(64);
    check_rows<weight_format::q4_0>(64);
    check_rows<weight_format::q5_0>(96);
    check_rows<weight_format::q4_k>(256);
    check_rows<weight_format::q5_k>(512);
    check_rows<weight_format::q6_k>(256);
    // The bytes per row follow the type: 34 per 32 weights (Q8_0), 210 per 256 (Q6_K).
    REQUIRE(moe::mixed_layout_of(weight_format::q8_0).row_elements(64) == 68);
    REQUIRE(moe::mixed_layout_of(weight_format::q6_k).row_elements(512) == 420);
    REQUIRE(moe::mixed_layout_of(weight_format::q4_k).row_elements(256) == 144);
    REQUIRE(moe::mixed_layout_of(weight_format::q5_0).row_elements(96) == 66);
}

TEST_CASE("gguf_mixed refuses views without a block type and float weights", "[gguf_mixed]") {
    const test_matrix<weight_format::q8_0> w(4, 64, 41);
    const matrix_view<const mixed_block> bare{reinterpret_cast<const mixed_block*>(w.blocks.data()), 4, 64};
    moe::cpu::thread_pool pool(1);
    const auto x = tokens(1, 64, 5);
    moe::host_matrix<float> y(1, 4);
    REQUIRE_THROWS_WITH(moe::cpu::linear<mixed_block>(x.view(), bare, y.view(), pool),
                        Catch::Contains("without a block type"));
    std::vector<float> out(64);
    REQUIRE_THROWS_WITH(moe::read_matrix_rows(bare, 0, 1, out.data()), Catch::Contains("no block type"));
    std::vector<mixed_block> row(64);
    REQUIRE_THROWS_WITH(moe::weight_format_traits<weight_format::gguf_mixed>::quantize_row(out.data(), 64, row.data()),
                        Catch::Contains("GGUF"));
    REQUIRE_THROWS_AS(moe::mixed_layout_of(weight_format::bf16), moe::invalid_argument);
    // The configs' width check: multiples of 32 (the smallest block of the mix), not 256.
    static_assert(moe::fits_blocks<weight_format::gguf_mixed>(1408 - 256 - 256 + 32) &&
                  !moe::fits_blocks<weight_format::gguf_mixed>(48));
    static_assert(sizeof(matrix_view<const float>) == 24, "fixed formats' views stay {data, rows, cols}");
}

}  // namespace

}  // namespace test_mixed_kernels
