// Checks moe::cpu::moe_layer against a plain per-token loop written here (double precision, reference router),
// for random configurations of every router kind, fp32/bf16/fp16 storage, token counts 0…37; and checks
// thread-count independence (bit-identical), tokens-per-expert counts, shape errors and NaN propagation.
//
// Tolerance: max |y − y_ref| ≤ 1e-5 · max |y_ref|. The reference is double precision using exactly the stored
// weights (bf16/fp16 decoded to fp32), so the only error is fp32 accumulation over D or F terms (~1e-6 relative).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "moe/cpu.hpp"
#include "reference_router.hpp"

namespace test_moe_layer_vs_loop {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

template <moe::moe_layer_config C>
moe::host_matrix<float> reference_forward(const moe::moe_layer_weights<C>& w, moe::matrix_view<const float> x,
                                          float scale, std::vector<std::int32_t>* counts = nullptr) {
    constexpr int D = C.model_width, E = C.experts, K = C.top_k, S = C.shared_width();
    moe::host_matrix<float> y(x.rows, D);
    if (counts) counts->assign(E, 0);
    auto ffn = [&](const moe::swiglu_weights<typename moe::moe_layer_weights<C>::storage>& f, int width,
                   const float* token, std::vector<double>& out) {
        std::vector<double> act(static_cast<std::size_t>(width));
        for (int r = 0; r < width; ++r) {
            double g = 0, u = 0;
            for (int d = 0; d < D; ++d) {
                g += double(moe::to_float(f.gate(r, d))) * token[d];
                u += double(moe::to_float(f.up(r, d))) * token[d];
            }
            act[r] = g / (1.0 + std::exp(-g)) * u;
        }
        out.assign(D, 0.0);
        for (int d = 0; d < D; ++d)
            for (int r = 0; r < width; ++r) out[d] += double(moe::to_float(f.down(d, r))) * act[r];
    };
    std::vector<double> bias;
    if constexpr (C.router.selection_bias) bias.assign(w.selection_bias.data, w.selection_bias.data + E);
    for (std::int64_t t = 0; t < x.rows; ++t) {
        const float* token = x.row(t);
        std::vector<double> logits(E, 0.0);
        for (int e = 0; e < E; ++e)
            for (int d = 0; d < D; ++d) logits[e] += double(w.router(e, d)) * token[d];
        const auto routing = moe_test::reference_route(C.router, logits, bias, K, scale);
        std::vector<double> acc(D, 0.0), out;
        for (int j = 0; j < K; ++j) {
            if (counts) ++(*counts)[routing.ids[j]];
            ffn(w.experts[routing.ids[j]], C.expert_width, token, out);
            for (int d = 0; d < D; ++d) acc[d] += routing.weights[j] * out[d];
        }
        if constexpr (S > 0) {
            double gate = 1.0;
            if constexpr (C.shared_expert_gate) {
                double dot = 0;
                for (int d = 0; d < D; ++d) dot += double(w.shared_expert_gate.data[d]) * token[d];
                gate = 1.0 / (1.0 + std::exp(-dot));
            }
            ffn(w.shared, S, token, out);
            for (int d = 0; d < D; ++d) acc[d] += gate * out[d];
        }
        for (int d = 0; d < D; ++d) y(t, d) = float(acc[d]);
    }
    return y;
}

moe::host_matrix<float> random_tokens(std::int64_t T, std::int64_t D, std::uint64_t seed) {
    moe::host_matrix<float> x(T, D);
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (std::int64_t i = 0; i < T * D; ++i) x.data()[i] = dist(rng);
    return x;
}

double max_abs(moe::matrix_view<const float> m) {
    double v = 0;
    for (float f : m.span()) v = std::max(v, double(std::abs(f)));
    return v;
}

double max_abs_diff(moe::matrix_view<const float> a, moe::matrix_view<const float> b) {
    double v = 0;
    for (std::int64_t i = 0; i < a.size(); ++i) v = std::max(v, double(std::abs(a.data[i] - b.data[i])));
    return v;
}

template <moe::moe_layer_config C>
void check_layer_against_loop(float scale, std::uint64_t seed) {
    const auto owned = moe::owned_moe_layer_weights<C>::random(seed);
    moe::cpu::moe_layer<C> layer(owned.view(), moe::router_runtime{.routed_scaling_factor = scale});
    moe::cpu::thread_pool pool(2);
    for (std::int64_t T : {0, 1, 5, 37}) {
        const auto x = random_tokens(T, C.model_width, seed + static_cast<std::uint64_t>(T));
        moe::host_matrix<float> y(T, C.model_width, -1.0f);
        layer.forward(x.view(), y.view(), pool);
        std::vector<std::int32_t> counts;
        const auto want = reference_forward<C>(owned.view(), x.view(), scale, &counts);
        INFO("T = " << T << ", weights " << moe::name_of(C.weights));
        CHECK(max_abs_diff(y.view(), want.view()) <= 1e-5 * max_abs(want.view()));
        CHECK(std::vector<std::int32_t>(layer.tokens_per_expert().begin(), layer.tokens_per_expert().end()) ==
              (T == 0 ? std::vector<std::int32_t>(C.experts, 0) : counts));
    }
}

constexpr moe::moe_layer_config mixtral_like{
    .model_width = 48, .expert_width = 80, .experts = 8, .top_k = 2, .router = moe::routers::mixtral};
constexpr moe::moe_layer_config qwen2_like{.model_width = 40,
                                           .expert_width = 24,
                                           .experts = 7,
                                           .top_k = 3,
                                           .shared_experts = 1,
                                           .shared_expert_width = 72,
                                           .shared_expert_gate = true,
                                           .router = moe::routers::qwen2_moe};
constexpr moe::moe_layer_config deepseek_v3_like{.model_width = 32,
                                                 .expert_width = 16,
                                                 .experts = 12,
                                                 .top_k = 3,
                                                 .shared_experts = 2,
                                                 .router = moe::routers::deepseek_v3(4, 2)};
constexpr moe::moe_layer_config deepseek_v2_like{.model_width = 24,
                                                 .expert_width = 20,
                                                 .experts = 15,
                                                 .top_k = 4,
                                                 .shared_experts = 1,
                                                 .router = moe::routers::deepseek_v2_group_limited(5, 3)};
constexpr moe::moe_layer_config wide_top_k{
    .model_width = 16, .expert_width = 8, .experts = 100, .top_k = 16, .router = moe::routers::qwen3_moe};

template <moe::moe_layer_config C>
constexpr moe::moe_layer_config with_weights(moe::weight_format f) {
    moe::moe_layer_config c = C;
    c.weights = f;
    return c;
}

}  // namespace

TEST_CASE("moe_layer matches the per-token loop: every router kind, fp32", "[moe_layer]") {
    check_layer_against_loop<mixtral_like>(1.0f, 10);
    check_layer_against_loop<qwen2_like>(1.0f, 11);
    check_layer_against_loop<deepseek_v3_like>(2.5f, 12);
    check_layer_against_loop<deepseek_v2_like>(16.0f, 13);
    check_layer_against_loop<wide_top_k>(1.0f, 14);
}

TEST_CASE("moe_layer matches the per-token loop with bf16 and fp16 weights (fp32 accumulation)", "[moe_layer]") {
    check_layer_against_loop<with_weights<mixtral_like>(moe::weight_format::bf16)>(1.0f, 20);
    check_layer_against_loop<with_weights<deepseek_v3_like>(moe::weight_format::bf16)>(2.5f, 21);
    check_layer_against_loop<with_weights<qwen2_like>(moe::weight_format::fp16)>(1.0f, 22);
    check_layer_against_loop<with_weights<mixtral_like>(moe::weight_format::fp16)>(1.0f, 23);
}

TEST_CASE("moe_layer output is bit-identical for 1, 2, 3 and 5 threads", "[moe_layer][determinism]") {
    constexpr auto C = with_weights<qwen2_like>(moe::weight_format::bf16);
    const auto owned = moe::owned_moe_layer_weights<C>::random(30);
    moe::cpu::moe_layer<C> layer(owned.view());
    const auto x = random_tokens(150, C.model_width, 31);
    moe::host_matrix<float> first(150, C.model_width);
    moe::cpu::thread_pool one(1);
    layer.forward(x.view(), first.view(), one);
    for (int threads : {2, 3, 5}) {
        moe::cpu::thread_pool pool(threads);
        moe::host_matrix<float> y(150, C.model_width);
        layer.forward(x.view(), y.view(), pool);
        CHECK(std::memcmp(y.data(), first.data(), sizeof(float) * static_cast<std::size_t>(y.rows() * y.cols())) == 0);
    }
}

TEST_CASE("tokens per expert add up to tokens × top_k and are readable per call", "[moe_layer]") {
    const auto owned = moe::owned_moe_layer_weights<mixtral_like>::random(40);
    moe::cpu::moe_layer<mixtral_like> layer(owned.view());
    const auto x = random_tokens(64, mixtral_like.model_width, 41);
    moe::host_matrix<float> y(64, mixtral_like.model_width);
    layer.forward(x.view(), y.view());
    std::int64_t total = 0;
    for (auto n : layer.tokens_per_expert()) total += n;
    CHECK(total == 64 * 2);
    CHECK(layer.tokens_per_expert().size() == 8);
    // A second call with fewer tokens replaces, not accumulates, the counts.
    layer.forward(moe::matrix_view<const float>{x.data(), 3, mixtral_like.model_width},
                  moe::matrix_view<float>{y.data(), 3, mixtral_like.model_width});
    total = 0;
    for (auto n : layer.tokens_per_expert()) total += n;
    CHECK(total == 3 * 2);
}

TEST_CASE("misuse throws shape_error naming the tensor and both shapes", "[moe_layer][errors]") {
    auto owned = moe::owned_moe_layer_weights<deepseek_v3_like>::random(50);
    auto weights = owned.view();
    moe::cpu::moe_layer<deepseek_v3_like> layer(weights);

    moe::host_matrix<float> x(4, 31), y(4, 32);
    REQUIRE_THROWS_WITH(layer.forward(x.view(), y.view()),
                        Catch::Contains("'x'") && Catch::Contains("(4, 31)") && Catch::Contains("(4, 32)"));
    moe::host_matrix<float> x_ok(4, 32), y_short(3, 32);
    REQUIRE_THROWS_WITH(layer.forward(x_ok.view(), y_short.view()),
                        Catch::Contains("'y'") && Catch::Contains("(3, 32)") && Catch::Contains("(4, 32)"));

    auto missing = weights;
    missing.experts[3].down = {};
    REQUIRE_THROWS_WITH(moe::cpu::moe_layer<deepseek_v3_like>(missing),
                        Catch::Contains("experts[3].down") && Catch::Contains("missing") && Catch::Contains("(32, 16)"));
    auto wrong = weights;
    wrong.router.rows = 11;
    REQUIRE_THROWS_WITH(moe::cpu::moe_layer<deepseek_v3_like>(wrong),
                        Catch::Contains("'router'") && Catch::Contains("(11, 32)") && Catch::Contains("(12, 32)"));
    auto no_bias = weights;
    no_bias.selection_bias = {};
    REQUIRE_THROWS_WITH(moe::cpu::moe_layer<deepseek_v3_like>(no_bias), Catch::Contains("selection_bias"));
    auto no_shared = weights;
    no_shared.shared.up = {};
    REQUIRE_THROWS_WITH(moe::cpu::moe_layer<deepseek_v3_like>(no_shared), Catch::Contains("shared.up"));
}

TEST_CASE("zero tokens is a valid call", "[moe_layer]") {
    const auto owned = moe::owned_moe_layer_weights<qwen2_like>::random(60);
    moe::cpu::moe_layer<qwen2_like> layer(owned.view());
    moe::host_matrix<float> x(0, qwen2_like.model_width), y(0, qwen2_like.model_width);
    REQUIRE_NOTHROW(layer.forward(x.view(), y.view()));
    for (auto n : layer.tokens_per_expert()) CHECK(n == 0);
}

TEST_CASE("a NaN token yields a NaN output row; the other tokens are unaffected", "[moe_layer]") {
    const auto owned = moe::owned_moe_layer_weights<deepseek_v3_like>::random(70);
    moe::cpu::moe_layer<deepseek_v3_like> layer(owned.view());
    auto x = random_tokens(9, deepseek_v3_like.model_width, 71);
    moe::host_matrix<float> clean(9, deepseek_v3_like.model_width), dirty(9, deepseek_v3_like.model_width);
    layer.forward(x.view(), clean.view());
    x(4, 7) = std::nanf("");
    moe::cpu::thread_pool pool(2);
    REQUIRE_NOTHROW(layer.forward(x.view(), dirty.view(), pool));
    for (int d = 0; d < deepseek_v3_like.model_width; ++d) CHECK(std::isnan(dirty(4, d)));
    for (std::int64_t t = 0; t < 9; ++t) {
        if (t == 4) continue;
        for (int d = 0; d < deepseek_v3_like.model_width; ++d) CHECK(dirty(t, d) == Approx(clean(t, d)).margin(1e-6));
    }
}

TEST_CASE("trap: the shared expert is added for every token, whatever the routing", "[moe_layer][trap]") {
    // Route every token to the same experts (identical tokens) and check output − routed part = shared FFN.
    const auto owned = moe::owned_moe_layer_weights<deepseek_v3_like>::random(80);
    auto w = owned.view();
    moe::cpu::moe_layer<deepseek_v3_like> with_shared(w);
    moe::host_matrix<float> zero_down(deepseek_v3_like.model_width, deepseek_v3_like.shared_width(), 0.0f);
    auto w_no_shared = w;
    w_no_shared.shared.down = zero_down.view();
    moe::cpu::moe_layer<deepseek_v3_like> routed_only(w_no_shared);

    auto x = random_tokens(1, deepseek_v3_like.model_width, 81);
    moe::host_matrix<float> xs(6, deepseek_v3_like.model_width);
    for (int t = 0; t < 6; ++t) std::copy(x.row(0), x.row(0) + deepseek_v3_like.model_width, xs.row(t));
    moe::host_matrix<float> y(6, deepseek_v3_like.model_width), y_routed(6, deepseek_v3_like.model_width);
    with_shared.forward(xs.view(), y.view());
    routed_only.forward(xs.view(), y_routed.view());
    const auto shared_ref = reference_forward<deepseek_v3_like>(w, xs.view(), 1.0f);
    const auto routed_ref = reference_forward<deepseek_v3_like>(w_no_shared, xs.view(), 1.0f);
    for (int t = 0; t < 6; ++t) {
        for (int d = 0; d < deepseek_v3_like.model_width; ++d) {
            const double shared_part = double(y(t, d)) - y_routed(t, d);
            CHECK(shared_part == Approx(double(shared_ref(t, d)) - routed_ref(t, d)).margin(1e-5));
        }
    }
    CHECK(max_abs_diff(y.view(), y_routed.view()) > 1e-3);  // the shared part is not negligible here
}

}  // namespace test_moe_layer_vs_loop
