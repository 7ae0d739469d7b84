// Checks the building blocks of the decoder layers against plain double-precision loops written here:
// linear (fp32/bf16/fp16 weights, bias), RMSNorm, RoPE tables (plain and YaRN) and rotations, the causal attention
// core, the KV-cache capacity error and the dense SwiGLU MLP. Also: the same bits for 1 and 3 threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "attention_by_loop.hpp"
#include "layer_test_support.hpp"
#include "moe/cpu/attention/causal_attention.hpp"
#include "moe/cpu/attention/kv_cache.hpp"
#include "moe/cpu/dense_mlp.hpp"
#include "moe/cpu/linear.hpp"
#include "moe/cpu/rms_norm.hpp"
#include "moe/cpu/rotary.hpp"

namespace test_layer_kernels_vs_loop {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe::host_matrix;
using moe::matrix_view;
using moe::test::attention_by_loop;
using moe::test::random_matrix;
using moe::test::relative_error;

template <class Storage>
host_matrix<Storage> stored(const host_matrix<float>& m) {
    host_matrix<Storage> out(m.rows(), m.cols());
    for (std::int64_t i = 0; i < m.rows() * m.cols(); ++i) out.data()[i] = Storage(m.data()[i]);
    return out;
}

template <class Storage>
void check_linear() {
    const std::int64_t T = 5, in = 37, out = 150;  // out spans three row blocks, the last one partial
    const auto x = random_matrix(T, in, 1);
    const auto w = stored<Storage>(random_matrix(out, in, 2, 0.2f));
    const auto b = stored<Storage>(random_matrix(1, out, 3, 0.1f));
    host_matrix<float> y(T, out), y3(T, out), expected(T, out);
    for (std::int64_t t = 0; t < T; ++t) {
        for (std::int64_t o = 0; o < out; ++o) {
            double sum = moe::to_float(b(0, o));
            for (std::int64_t i = 0; i < in; ++i) sum += double(x(t, i)) * double(moe::to_float(w(o, i)));
            expected(t, o) = float(sum);
        }
    }
    moe::cpu::thread_pool one(1), three(3);
    moe::cpu::linear<Storage>(x.view(), w.view(), b.view(), y.view(), one);
    moe::cpu::linear<Storage>(x.view(), w.view(), b.view(), y3.view(), three);
    CHECK(relative_error(y.view(), expected.view()) <= 1e-6);
    CHECK(std::vector<float>(y.data(), y.data() + y.rows() * y.cols()) ==
          std::vector<float>(y3.data(), y3.data() + y3.rows() * y3.cols()));

    host_matrix<float> wrong(T, out + 1);
    CHECK_THROWS_AS(moe::cpu::linear<Storage>(x.view(), w.view(), b.view(), wrong.view(), one), moe::shape_error);
}

// Rotation of the pair (a, b) by angle θ, in double.
void rotate_pair(double& a, double& b, double angle) {
    const double c = std::cos(angle), s = std::sin(angle), a0 = a;
    a = a0 * c - b * s;
    b = b * c + a0 * s;
}

}  // namespace

TEST_CASE("linear matches a plain loop for fp32, bf16 and fp16 weights, any thread count", "[layers][linear]") {
    check_linear<float>();
    check_linear<moe::bfloat16>();
    check_linear<moe::float16>();
}

TEST_CASE("rms_norm matches a plain loop, also in place and per head", "[layers][rms_norm]") {
    const auto x = random_matrix(6, 24, 11, 3.0f);
    const auto w = random_matrix(1, 24, 12);
    const float eps = 1e-5f;
    host_matrix<float> y(6, 24), expected(6, 24);
    for (std::int64_t r = 0; r < 6; ++r) {
        double sq = 0;
        for (std::int64_t i = 0; i < 24; ++i) sq += double(x(r, i)) * x(r, i);
        const double inv = 1.0 / std::sqrt(sq / 24 + eps);
        for (std::int64_t i = 0; i < 24; ++i) expected(r, i) = float(w(0, i) * x(r, i) * inv);
    }
    moe::cpu::rms_norm<float>(x.view(), w.view(), eps, y.view());
    CHECK(relative_error(y.view(), expected.view()) <= 1e-6);

    host_matrix<float> in_place = x;
    moe::cpu::rms_norm<float>(in_place.view(), w.view(), eps);
    CHECK(relative_error(in_place.view(), expected.view()) <= 1e-6);

    // Per head: a (6, 24) row block viewed as (18, 8) normalises each 8-wide head on its own.
    const auto head_w = random_matrix(1, 8, 13);
    host_matrix<float> heads = x;
    moe::cpu::rms_norm<float>(matrix_view<float>{heads.data(), 18, 8}, head_w.view(), eps);
    for (std::int64_t r = 0; r < 18; ++r) {
        double sq = 0;
        for (std::int64_t i = 0; i < 8; ++i) sq += double(x.data()[r * 8 + i]) * x.data()[r * 8 + i];
        const double inv = 1.0 / std::sqrt(sq / 8 + eps);
        for (std::int64_t i = 0; i < 8; ++i) {
            CHECK(heads.data()[r * 8 + i] == Approx(head_w(0, i) * x.data()[r * 8 + i] * inv).epsilon(1e-6).margin(1e-6));
        }
    }
}

TEST_CASE("plain RoPE: inv_freq, tables and both rotations match the formulas", "[layers][rope]") {
    const int dim = 16;
    const moe::cpu::rotary_embedding rope(moe::rope_parameters::plain(1e6), dim);
    REQUIRE(rope.attention_factor() == 1.0f);
    for (int i = 0; i < dim / 2; ++i) {
        CHECK(rope.inverse_frequencies()[std::size_t(i)] == Approx(std::pow(1e6, -2.0 * i / dim)).epsilon(1e-6));
    }
    host_matrix<float> cos, sin;
    rope.tables(100, 3, cos, sin);  // positions 100, 101, 102
    for (std::int64_t t = 0; t < 3; ++t) {
        for (int i = 0; i < dim / 2; ++i) {
            const double angle = double(100 + t) * rope.inverse_frequencies()[std::size_t(i)];
            CHECK(cos(t, i) == Approx(std::cos(angle)).margin(1e-5));
            CHECK(sin(t, i) == Approx(std::sin(angle)).margin(1e-5));
        }
    }

    const auto x = random_matrix(1, dim, 21);
    std::vector<float> half(x.data(), x.data() + dim), interleaved = half;
    moe::cpu::rope_rotate_half(half.data(), cos.row(1), sin.row(1), dim);
    moe::cpu::rope_interleaved(interleaved.data(), cos.row(1), sin.row(1), dim);
    for (int i = 0; i < dim / 2; ++i) {
        const double angle = 101.0 * rope.inverse_frequencies()[std::size_t(i)];
        double a = x(0, i), b = x(0, i + dim / 2);  // rotate_half pairs (i, i + dim/2)
        rotate_pair(a, b, angle);
        CHECK(half[std::size_t(i)] == Approx(a).margin(1e-5));
        CHECK(half[std::size_t(i + dim / 2)] == Approx(b).margin(1e-5));
        double c = x(0, 2 * i), d = x(0, 2 * i + 1);  // interleaved pairs (2i, 2i + 1)
        rotate_pair(c, d, angle);
        CHECK(interleaved[std::size_t(2 * i)] == Approx(c).margin(1e-5));
        CHECK(interleaved[std::size_t(2 * i + 1)] == Approx(d).margin(1e-5));
    }
}

TEST_CASE("YaRN frequencies, attention factor and DeepSeek softmax scale follow the YaRN formulas", "[layers][rope]") {
    // DeepSeek-V3's released rope_scaling.
    const moe::rope_parameters v3{.type = moe::rope_type::yarn, .theta = 10000, .factor = 40,
                                  .original_max_position_embeddings = 4096, .beta_fast = 32, .beta_slow = 1,
                                  .mscale = 1.0, .mscale_all_dim = 1.0};
    CHECK(moe::rope_attention_factor(v3) == 1.0);  // mscale / mscale_all_dim cancel
    const double m = 0.1 * std::log(40.0) + 1.0;
    CHECK(moe::mla_softmax_scale_multiplier(v3) == Approx(m * m).epsilon(1e-12));
    CHECK(moe::mla_softmax_scale_multiplier(moe::rope_parameters::plain(1e4)) == 1.0);

    // Independent YaRN: dims whose wavelength is short keep their frequency, long ones are divided by `factor`,
    // with a linear ramp between the (floored/ceiled) correction dims of beta_fast and beta_slow rotations.
    const int dim = 64;
    const auto inv_freq = moe::rope_inverse_frequencies(v3, dim);
    const double pi = std::acos(-1.0);
    auto correction = [&](double rotations) { return dim * std::log(4096 / (rotations * 2 * pi)) / (2 * std::log(1e4)); };
    const double low = std::floor(correction(32)), high = std::ceil(correction(1));
    REQUIRE(low > 0);
    REQUIRE(high < dim / 2);  // the ramp really lies inside the frequencies
    for (int i = 0; i < dim / 2; ++i) {
        const double original = std::pow(1e4, -2.0 * i / dim);
        const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);  // 0 = keep, 1 = interpolate
        const double expected = original / 40 * ramp + original * (1 - ramp);
        CHECK(inv_freq[std::size_t(i)] == Approx(expected).epsilon(2e-6));
    }

    moe::rope_parameters scaled = v3;
    scaled.mscale_all_dim = 0.8;
    CHECK(moe::rope_attention_factor(scaled) == Approx(m / (0.08 * std::log(40.0) + 1.0)).epsilon(1e-12));
    scaled.attention_factor = 0.5;  // an explicit attention_factor wins
    CHECK(moe::rope_attention_factor(scaled) == 0.5);
    const moe::cpu::rotary_embedding rope(scaled, dim);
    host_matrix<float> cos, sin;
    rope.tables(5, 1, cos, sin);
    CHECK(cos(0, 0) == Approx(0.5 * std::cos(5.0)).margin(1e-6));
}

std::vector<float> values_of(const host_matrix<float>& m) { return {m.data(), m.data() + m.rows() * m.cols()}; }

TEST_CASE("causal attention matches a plain loop and is thread-count independent", "[layers][attention]") {
    const std::int64_t window = GENERATE(0, 1, 5, 30);  // 0 = full causal; else keys p − window < j ≤ p
    CAPTURE(window);
    const int H = 6, G = 2, Dk = 5, Dv = 3;
    const std::int64_t L = 40, T = 23;  // two query blocks; queries are the last T of L positions
    const auto q = random_matrix(T, H * Dk, 31), keys = random_matrix(L, G * Dk, 32), values = random_matrix(L, G * Dv, 33);
    const float scale = 0.4f;
    host_matrix<float> out(T, H * Dv), out3(T, H * Dv);
    const moe::cpu::attention_heads shape{.heads = H, .kv_heads = G, .key_dim = Dk, .value_dim = Dv};
    const auto expected = attention_by_loop(q, keys, values, shape, scale, window);
    moe::cpu::thread_pool one(1), three(3);
    moe::cpu::causal_attention(q.view(), keys.view(), values.view(), shape, scale, out.view(), one, window);
    moe::cpu::causal_attention(q.view(), keys.view(), values.view(), shape, scale, out3.view(), three, window);
    CHECK(relative_error(out.view(), expected.view()) <= 1e-6);
    CHECK(values_of(out) == values_of(out3));
}

// Decode (fewer than 16 query tokens) runs split_kv_attention: chunks of 256 cached positions per kv head, merged
// with an online softmax. Shapes here cross chunk boundaries, the shared-prefix split and the sliding window; the
// MLA shape is one kv head read by every query head (absorbed attention over the latent cache).
TEST_CASE("decode attention over chunks of a long cache matches a plain loop, any thread count", "[layers][attention]") {
    struct case_shape {
        int H, G, Dk, Dv;
        std::int64_t L, S, T, window;
    };
    const auto c = GENERATE(case_shape{8, 2, 16, 16, 700, 0, 1, 0},      // 3 chunks, the last partial
                            case_shape{8, 2, 16, 16, 700, 300, 1, 0},    // shared prefix ends inside chunk 2
                            case_shape{8, 2, 16, 16, 513, 0, 15, 0},     // 15 queries: the causal edge in a chunk
                            case_shape{8, 2, 16, 16, 1100, 0, 3, 300},   // window: chunks before it skipped
                            case_shape{8, 2, 16, 16, 1100, 600, 2, 257}, // window across the shared split
                            case_shape{16, 1, 40, 32, 900, 0, 1, 0},     // MLA-like: one kv head, Dk ≠ Dv
                            case_shape{4, 4, 8, 8, 1, 0, 1, 0});         // one position
    CAPTURE(c.H, c.G, c.L, c.S, c.T, c.window);
    const moe::cpu::attention_heads shape{.heads = c.H, .kv_heads = c.G, .key_dim = c.Dk, .value_dim = c.Dv};
    const auto q = random_matrix(c.T, c.H * c.Dk, 51), keys = random_matrix(c.L, c.G * c.Dk, 52, 0.5f),
               values = random_matrix(c.L, c.G * c.Dv, 53);
    const float scale = 1.0f / std::sqrt(float(c.Dk));
    const auto expected = attention_by_loop(q, keys, values, shape, scale, c.window);

    // Positions [0, S) in a separate (shared) pair of matrices, the rest in the "own" rows, as kv_cache::sharing has.
    auto rows = [](const host_matrix<float>& m, std::int64_t first, std::int64_t count) {
        return matrix_view<const float>{m.data() + first * m.cols(), count, m.cols()};
    };
    const moe::cpu::shared_kv shared{rows(keys, 0, c.S), rows(values, 0, c.S)};
    const auto own_keys = rows(keys, c.S, c.L - c.S), own_values = rows(values, c.S, c.L - c.S);
    host_matrix<float> out(c.T, c.H * c.Dv), out3(c.T, c.H * c.Dv), per_head(c.T, c.H * c.Dv);
    moe::cpu::thread_pool one(1), three(3);
    moe::cpu::causal_attention(q.view(), shared, own_keys, own_values, shape, scale, out.view(), one, c.window);
    moe::cpu::causal_attention(q.view(), shared, own_keys, own_values, shape, scale, out3.view(), three, c.window);
    moe::cpu::per_head_attention<float>(q.view(), shared, own_keys, own_values, shape, scale, per_head.view(), three, c.window);
    CHECK(relative_error(out.view(), expected.view()) <= 2e-6);
    CHECK(relative_error(per_head.view(), expected.view()) <= 2e-6);
    CHECK(values_of(out) == values_of(out3));
}

TEST_CASE("a KV cache refuses positions beyond its capacity with a clear error", "[layers][kv_cache]") {
    moe::cpu::kv_cache cache(4, 8);
    CHECK(cache.bytes_per_token() == 2 * 8 * 4);
    cache.commit(3);
    CHECK(cache.room() == 1);
    CHECK_THROWS_WITH(cache.require_room(2), Catch::Contains("capacity 4"));
    CHECK_THROWS_AS(cache.commit(2), moe::cpu::kv_cache_full);
    CHECK(cache.size() == 3);
    cache.clear();
    CHECK(cache.size() == 0);
    CHECK_THROWS_AS(moe::cpu::kv_cache(-1, 8), std::invalid_argument);
    moe::cpu::latent_cache latent(10, 32, 8);
    CHECK(latent.bytes_per_token() == (32 + 8) * 4);
}

TEST_CASE("dense SwiGLU MLP matches a plain loop", "[layers][dense_mlp]") {
    constexpr moe::dense_mlp_config config{.model_width = 24, .width = 70};
    const auto gate = random_matrix(70, 24, 41, 0.3f), up = random_matrix(70, 24, 42, 0.3f),
               down = random_matrix(24, 70, 43, 0.2f), x = random_matrix(9, 24, 44);
    moe::cpu::dense_mlp<config> mlp({gate.view(), up.view(), down.view()});
    host_matrix<float> y(9, 24), expected(9, 24);
    for (std::int64_t t = 0; t < 9; ++t) {
        std::vector<double> a(70);
        for (int f = 0; f < 70; ++f) {
            double g = 0, u = 0;
            for (int d = 0; d < 24; ++d) {
                g += double(gate(f, d)) * x(t, d);
                u += double(up(f, d)) * x(t, d);
            }
            a[std::size_t(f)] = g / (1 + std::exp(-g)) * u;
        }
        for (int d = 0; d < 24; ++d) {
            double sum = 0;
            for (int f = 0; f < 70; ++f) sum += double(down(d, f)) * a[std::size_t(f)];
            expected(t, d) = float(sum);
        }
    }
    moe::cpu::thread_pool pool(2);
    mlp.forward(x.view(), y.view(), pool);
    CHECK(relative_error(y.view(), expected.view()) <= 1e-5);
}

}  // namespace test_layer_kernels_vs_loop
