// Every weight format through its traits and its CPU kernels: the traits' numbers and row conversions, and one
// SwiGLU FFN (swiglu_runner, both kernels) per format against a plain double loop over the weights read back by
// read_row, bit-identical for any thread count.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "moe/config/precision.hpp"
#include "moe/cpu/swiglu_runner.hpp"
#include "moe/cpu/widen_rows.hpp"
#include "moe/cpu/workspace.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "moe/tensor/random_fill.hpp"

namespace test_format_kernels {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe::weight_format;

// The numbers the ledger and the configs read, derived from the traits.
static_assert(moe::weight_format_count >= 5);  // fp32, bf16, fp16, bf16_compute, q8_0, then later formats
static_assert(moe::name_of(weight_format::q8_0) == "q8_0" && moe::name_of(weight_format::bf16_compute) == "bf16_compute");
static_assert(moe::name_of(static_cast<weight_format>(99)) == "?");
static_assert(moe::bytes_per_weight(weight_format::fp32) == 4.0 && moe::bytes_per_weight(weight_format::bf16) == 2.0 &&
              moe::bytes_per_weight(weight_format::fp16) == 2.0 && moe::bytes_per_weight(weight_format::q8_0) == 34.0 / 32.0);
static_assert(moe::bytes_per_vector_element(weight_format::q8_0) == 4.0 &&
              moe::bytes_per_vector_element(weight_format::bf16_compute) == 2.0);
static_assert(moe::weight_bytes(weight_format::q8_0, 64) == 68);
static_assert(moe::is_block_quantized(weight_format::q8_0) && !moe::is_block_quantized(weight_format::bf16));
static_assert(moe::format_of_storage<moe::bfloat16_compute> == weight_format::bf16_compute &&
              moe::format_of_storage<moe::bfloat16> == weight_format::bf16 &&
              moe::format_of_storage<moe::q8_0_block> == weight_format::q8_0);
static_assert(std::is_same_v<moe::vector_storage_t<weight_format::q8_0>, float> &&
              std::is_same_v<moe::vector_element_t<moe::float16>, moe::float16>);
static_assert(moe::fits_blocks<weight_format::q8_0>(96) && !moe::fits_blocks<weight_format::q8_0>(48) &&
              moe::fits_blocks<weight_format::fp32>(7));
static_assert(moe::weight_format_traits<weight_format::q8_0>::cpu && !moe::weight_format_traits<weight_format::q8_0>::cuda);

template <weight_format Format>
void check_rows() {
    using traits = moe::weight_format_traits<Format>;
    constexpr std::int64_t k = 96;
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    std::vector<float> x(k), back(k);
    for (float& v : x) v = dist(rng);
    std::vector<typename traits::storage> row(static_cast<std::size_t>(k / traits::block_width));
    traits::quantize_row(x.data(), k, row.data());
    traits::read_row(row.data(), k, back.data());
    // The error of one conversion: none (fp32), half an ulp of bf16/fp16, half a Q8_0 step (amax / 254).
    const double tolerance = Format == weight_format::fp32 ? 0.0
                             : Format == weight_format::fp16 ? 2.0 / 2048
                             : Format == weight_format::q8_0 ? 2.0 / 254 + 1e-3
                                                             : 2.0 / 256;
    for (std::int64_t i = 0; i < k; ++i) REQUIRE(std::abs(double(back[i]) - double(x[i])) <= tolerance);
    // widen_rows reads rows the same way (in place for fp32).
    const moe::matrix_view<const typename traits::storage> m{row.data(), 1, k};
    const auto wide = moe::cpu::widen_rows(m, 0, 1);
    for (std::int64_t i = 0; i < k; ++i) REQUIRE(wide(0, i) == back[i]);
}

TEST_CASE("every format's quantize_row and read_row round-trip within one rounding", "[perf_kernels][formats]") {
    check_rows<weight_format::fp32>();
    check_rows<weight_format::bf16>();
    check_rows<weight_format::fp16>();
    check_rows<weight_format::bf16_compute>();
    check_rows<weight_format::q8_0>();
}

// y = down(silu(gate · x) ⊙ (up · x)) in double over the stored weights read back as fp32.
template <class Storage>
std::vector<double> swiglu_loop(const std::vector<float>& x, std::int64_t n, std::int64_t d, std::int64_t f,
                                const moe::host_matrix<Storage>& gate, const moe::host_matrix<Storage>& up,
                                const moe::host_matrix<Storage>& down) {
    auto widen = [](const moe::host_matrix<Storage>& m) {
        std::vector<float> w(static_cast<std::size_t>(m.rows() * m.cols()));
        moe::storage_traits<Storage>::read_row(m.data(), m.rows() * m.cols(), w.data());
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

template <weight_format Format>
void check_runner(double tolerance) {
    using storage = moe::storage_t<Format>;
    constexpr std::int64_t D = 96, F = 160;
    moe::host_matrix<storage> gate(F, D), up(F, D), down(D, F);
    std::mt19937_64 rng(11);
    moe::fill_linear(gate, rng);
    moe::fill_linear(up, rng);
    moe::fill_linear(down, rng);
    const moe::swiglu_weights<storage> w{gate.view(), up.view(), down.view()};
    moe::thread_pool one(1), three(3);
    for (std::int64_t n : {1, 4, 5, 37}) {  // decode (dot-product tiles) and prefill (GEMM tiles)
        std::vector<float> x(static_cast<std::size_t>(n * D));
        std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
        for (float& v : x) v = dist(rng);
        std::vector<float> y1(x.size()), y3(x.size());
        moe::cpu::swiglu_runner<storage> a, b;
        a.run({x.data(), n, D}, w, {y1.data(), n, D}, one);
        b.run({x.data(), n, D}, w, {y3.data(), n, D}, three);
        REQUIRE(y1 == y3);
        const auto want = swiglu_loop(x, n, D, F, gate, up, down);
        for (std::size_t i = 0; i < y1.size(); ++i) REQUIRE(std::abs(double(y1[i]) - want[i]) <= tolerance);
    }
}

TEST_CASE("swiglu_runner runs every format's kernels, thread-count independent", "[perf_kernels][formats]") {
    // fp32 activations: only the summation order differs from the double loop. bf16_compute rounds activations to
    // bf16, q8_0 quantizes them to 8 bits, at each product's input.
    check_runner<weight_format::fp32>(1e-5);
    check_runner<weight_format::bf16>(1e-5);
    check_runner<weight_format::fp16>(1e-5);
    check_runner<weight_format::bf16_compute>(2e-3);
    check_runner<weight_format::q8_0>(4e-3);
}

TEST_CASE("scratch slots are separate buffers that keep their size", "[perf_kernels][workspace]") {
    float* a = moe::cpu::scratch<float>(moe::cpu::scratch_slot::gate_product, 100);
    float* b = moe::cpu::scratch<float>(moe::cpu::scratch_slot::up_product, 100);
    REQUIRE(a != b);
    a[99] = 1.0f;
    b[99] = 2.0f;
    REQUIRE(moe::cpu::scratch<float>(moe::cpu::scratch_slot::gate_product, 50) == a);  // no smaller reallocation
    REQUIRE(a[99] == 1.0f);
}

}  // namespace

}  // namespace test_format_kernels
