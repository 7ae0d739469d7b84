// Checks moe::route_token against the plain router in reference_router.hpp for every family, and the traps of
// docs/routing.md as named cases: DeepSeek-V3 weights from unbiased scores, masked groups excluded (−inf, not 0.0),
// s kept rather than recovered as s' − bias, the tie rule, NaN input, non-power-of-two expert counts, large top-k;
// and, replaying the CUDA router's warp reduction order on the host, that this order changes neither the softmax
// maximum nor the top-k.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "moe/routing/route_token.hpp"
#include "moe/routing/router_math.hpp"
#include "moe/routing/top_k.hpp"
#include "reference_router.hpp"

namespace test_router_semantics {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

template <moe::router_config R, int E, int K>
struct routed {
    std::vector<int> ids = std::vector<int>(K);
    std::vector<float> weights = std::vector<float>(K);
};

template <moe::router_config R, int E, int K>
routed<R, E, K> route(const std::vector<float>& logits, const std::vector<float>& bias = {}, float scale = 1.0f) {
    routed<R, E, K> out;
    moe::route_token<R, E, K>(logits.data(), bias.empty() ? nullptr : bias.data(), scale, out.ids.data(),
                              out.weights.data());
    return out;
}

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Random logits with gaps large enough that fp32 vs double cannot reorder them.
std::vector<float> random_logits(std::mt19937& rng, int n, float spread = 3.0f) {
    std::normal_distribution<float> dist(0.0f, spread);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = dist(rng);
    return v;
}

// Compares one routed token with the reference: same experts in the same order, weights within 2e-6 relative.
template <moe::router_config R, int E, int K>
void check_against_reference(const std::vector<float>& logits, const std::vector<float>& bias, float scale) {
    const auto got = route<R, E, K>(logits, bias, scale);
    const auto want = moe_test::reference_route(R, to_double(logits), to_double(bias), K, scale);
    REQUIRE(got.ids == want.ids);
    for (int j = 0; j < K; ++j) REQUIRE(got.weights[j] == Approx(want.weights[j]).epsilon(2e-6));
}

constexpr moe::router_config v3 = moe::routers::deepseek_v3(4, 2);

}  // namespace

TEST_CASE("softmax routers match the reference on random logits", "[router]") {
    std::mt19937 rng(1);
    for (int trial = 0; trial < 200; ++trial) {
        check_against_reference<moe::routers::mixtral, 8, 2>(random_logits(rng, 8), {}, 1.0f);
        check_against_reference<moe::routers::qwen2_moe, 60, 4>(random_logits(rng, 60), {}, 1.0f);
        check_against_reference<moe::routers::qwen3_moe, 128, 8>(random_logits(rng, 128), {}, 1.0f);
        check_against_reference<moe::routers::olmoe, 64, 8>(random_logits(rng, 64), {}, 1.0f);
        check_against_reference<moe::routers::deepseek_v2_greedy, 64, 6>(random_logits(rng, 64), {}, 1.0f);
        check_against_reference<moe::routers::deepseek_v2_group_limited(8, 3), 160, 6>(random_logits(rng, 160), {},
                                                                                        16.0f);
    }
}

TEST_CASE("DeepSeek-V3 router matches the reference, including 256 experts in 8 groups, top-8", "[router]") {
    std::mt19937 rng(2);
    std::normal_distribution<float> bias_dist(0.0f, 0.3f);
    for (int trial = 0; trial < 200; ++trial) {
        std::vector<float> bias(256);
        for (auto& b : bias) b = bias_dist(rng);
        check_against_reference<moe::routers::deepseek_v3(8, 4), 256, 8>(random_logits(rng, 256), bias, 2.5f);
        std::vector<float> small_bias(bias.begin(), bias.begin() + 24);
        check_against_reference<moe::routers::deepseek_v3(4, 2), 24, 5>(random_logits(rng, 24), small_bias, 1.0f);
    }
}

TEST_CASE("any expert count and any top-k: 7 experts top-5, 384 experts top-16, 512 top-1", "[router]") {
    std::mt19937 rng(3);
    for (int trial = 0; trial < 50; ++trial) {
        check_against_reference<moe::routers::qwen3_moe, 7, 5>(random_logits(rng, 7), {}, 1.0f);
        check_against_reference<moe::routers::olmoe, 384, 16>(random_logits(rng, 384), {}, 1.0f);
        check_against_reference<moe::routers::mixtral, 512, 1>(random_logits(rng, 512), {}, 1.0f);
    }
}

TEST_CASE("Mixtral: softmax then top-k then renormalise equals softmax over the top-k logits", "[router]") {
    std::mt19937 rng(4);
    const auto logits = random_logits(rng, 8);
    const auto got = route<moe::routers::mixtral, 8, 2>(logits);
    const double a = logits[got.ids[0]], b = logits[got.ids[1]];
    const double m = std::max(a, b);
    CHECK(got.weights[0] == Approx(std::exp(a - m) / (std::exp(a - m) + std::exp(b - m))).epsilon(1e-6));
    CHECK(got.weights[0] + got.weights[1] == Approx(1.0).epsilon(1e-6));
}

TEST_CASE("no renormalisation (Qwen2-MoE norm_topk_prob=false, OLMoE) keeps the full-softmax probabilities",
          "[router]") {
    const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 1.0f, 0.0f, 0.25f};
    const auto got = route<moe::routers::olmoe, 6, 2>(logits);
    double z = 0;
    for (float l : logits) z += std::exp(double(l));
    CHECK(got.ids == std::vector<int>{1, 3});
    CHECK(got.weights[0] == Approx(std::exp(2.0) / z).epsilon(1e-6));
    CHECK(got.weights[1] == Approx(std::exp(1.0) / z).epsilon(1e-6));
    CHECK(got.weights[0] + got.weights[1] < 0.9f);
}

TEST_CASE("trap: DeepSeek-V3 weights come from the unbiased sigmoid scores, not from s + bias", "[router][trap]") {
    // Expert 5 has the lowest logit in its group but a bias that lifts it into the selection.
    std::vector<float> logits(24, -1.0f);
    for (int i = 0; i < 24; ++i) logits[i] = -1.0f + 0.05f * i;
    std::vector<float> bias(24, 0.0f);
    bias[5] = 1.0f;
    const auto got = route<v3, 24, 4>(logits, bias, 2.5f);
    REQUIRE(std::find(got.ids.begin(), got.ids.end(), 5) != got.ids.end());
    double sum = 0;
    for (int id : got.ids) sum += 1.0 / (1.0 + std::exp(-double(logits[id])));
    for (int j = 0; j < 4; ++j) {
        const double s = 1.0 / (1.0 + std::exp(-double(logits[got.ids[j]])));
        CHECK(got.weights[j] == Approx(2.5 * s / sum).epsilon(1e-6));
    }
}

TEST_CASE("trap: experts of dropped groups are excluded, never scored as 0.0", "[router][trap]") {
    // All biased scores s' = s + bias are negative, so filling dropped groups with 0.0 (one engine's bug)
    // would select dropped experts. The reference code uses −inf: only kept groups may be chosen.
    std::mt19937 rng(5);
    const auto logits = random_logits(rng, 24, 1.0f);
    const std::vector<float> bias(24, -3.0f);
    const auto got = route<v3, 24, 4>(logits, bias, 1.0f);

    // Kept groups, computed plainly: sum of the two best s' in each group of 6, best 2 groups.
    std::vector<double> choice(24), group(4);
    for (int i = 0; i < 24; ++i) choice[i] = 1.0 / (1.0 + std::exp(-double(logits[i]))) - 3.0;
    for (int g = 0; g < 4; ++g) {
        std::vector<double> m(choice.begin() + 6 * g, choice.begin() + 6 * g + 6);
        std::sort(m.begin(), m.end(), std::greater<>());
        group[g] = m[0] + m[1];
    }
    std::vector<int> order = {0, 1, 2, 3};
    std::sort(order.begin(), order.end(), [&](int a, int b) { return group[a] > group[b]; });
    const std::set<int> kept = {order[0], order[1]};
    for (int id : got.ids) CHECK(kept.count(id / 6) == 1);

    // The 0.0-fill variant really differs here, so this case exercises the trap.
    std::vector<double> zero_filled = choice;
    for (int i = 0; i < 24; ++i)
        if (!kept.count(i / 6)) zero_filled[i] = 0.0;
    const int zero_fill_best = static_cast<int>(std::max_element(zero_filled.begin(), zero_filled.end()) - zero_filled.begin());
    CHECK(kept.count(zero_fill_best / 6) == 0);
}

TEST_CASE("trap: weights keep s itself; recovering s as s' - bias would cancel with a large bias", "[router][trap]") {
    std::vector<float> logits(24);
    for (int i = 0; i < 24; ++i) logits[i] = 0.1f * float(i % 7) - 0.3f;
    const std::vector<float> bias(24, 100000.0f);  // fp32 spacing at 1e5 is ~8e-3: s' − bias loses 2-3 digits
    const auto got = route<v3, 24, 4>(logits, bias, 1.0f);
    double sum = 0, recovered_sum = 0;
    std::vector<double> recovered;
    for (int id : got.ids) {
        const float s = 1.0f / (1.0f + std::exp(-logits[id]));
        sum += s;
        recovered.push_back(double((s + 100000.0f) - 100000.0f));
        recovered_sum += recovered.back();
    }
    double worst_recovered_error = 0;
    for (int j = 0; j < 4; ++j) {
        const double exact = 1.0 / (1.0 + std::exp(-double(logits[got.ids[j]]))) / sum;
        CHECK(got.weights[j] == Approx(exact).epsilon(1e-6));
        worst_recovered_error = std::max(worst_recovered_error, std::abs(recovered[j] / recovered_sum - exact));
    }
    CHECK(worst_recovered_error > 1e-4);  // the wrong way is measurably wrong on this input
}

TEST_CASE("tie rule: equal scores go to the lower expert index first", "[router]") {
    const std::vector<float> logits(8, 0.5f);
    const auto got = route<moe::routers::mixtral, 8, 3>(logits);
    CHECK(got.ids == std::vector<int>{0, 1, 2});
    const std::vector<float> some_ties = {0.0f, 1.0f, 0.0f, 1.0f, 1.0f, 0.0f};
    CHECK(route<moe::routers::olmoe, 6, 2>(some_ties).ids == std::vector<int>{1, 3});
    // Group ties: all groups equal → the lowest groups are kept.
    const std::vector<float> flat(24, 0.0f);
    const auto grouped = route<v3, 24, 4>(flat, std::vector<float>(24, 0.0f));
    for (int id : grouped.ids) CHECK(id < 12);
    CHECK(grouped.ids == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("NaN logits give valid distinct experts and NaN weights, never a crash", "[router]") {
    std::vector<float> logits(24, std::nanf(""));
    const auto all_nan = route<v3, 24, 4>(logits, std::vector<float>(24, 0.0f));
    std::set<int> distinct(all_nan.ids.begin(), all_nan.ids.end());
    CHECK(distinct.size() == 4);
    for (int id : all_nan.ids) CHECK((id >= 0 && id < 24));
    for (float w : all_nan.weights) CHECK(std::isnan(w));

    std::vector<float> one_nan = {0.0f, 1.0f, std::nanf(""), 2.0f, 0.5f, 0.1f, 0.2f, 0.3f};
    const auto softmax_nan = route<moe::routers::mixtral, 8, 2>(one_nan);
    std::set<int> d2(softmax_nan.ids.begin(), softmax_nan.ids.end());
    CHECK(d2.size() == 2);
    for (float w : softmax_nan.weights) CHECK(std::isnan(w));
}

// The CUDA router (one warp per token) reduces in another order than route_token; router_math.hpp and
// moe/cuda/kernels/router.hpp claim that the order cannot change the result. These cases replay the warp's order on
// the host — 32 lanes over strided indices, then a butterfly (lane l combines with lane l ^ offset) — so the claim is
// checked without a GPU.
namespace {

// Combines per-lane values as __shfl_xor_sync butterflies do: afterwards every lane holds the same value.
template <class T, class Combine>
T butterfly(std::vector<T> lanes, Combine combine) {
    for (int offset = 16; offset > 0; offset /= 2) {
        std::vector<T> next(lanes);
        for (int l = 0; l < 32; ++l) next[l] = combine(lanes[l], lanes[l ^ offset]);
        lanes = next;
    }
    return lanes[0];
}

std::vector<float> awkward_logits(std::mt19937& rng, int n) {
    std::uniform_int_distribution<int> pick(0, 9);
    std::vector<float> v = random_logits(rng, n);
    for (float& x : v) {
        const int p = pick(rng);
        if (p == 0) x = NAN;
        if (p == 1) x = std::round(x);  // ties, and ±0
        if (p == 2) x = -0.0f;
    }
    return v;
}

}  // namespace

TEST_CASE("warp order: running_max from logits[0] gives the sequential maximum and the same softmax numerators",
          "[router][cuda_order]") {
    namespace math = moe::router_math;
    std::mt19937 rng(41);
    for (int trial = 0; trial < 2000; ++trial) {
        const int n = 1 + trial % 300;
        std::vector<float> l = awkward_logits(rng, n);
        if (trial % 7 == 0) l[0] = NAN;  // a NaN first logit must make the maximum NaN in both orders
        float sequential = l[0];
        for (int i = 1; i < n; ++i) sequential = math::running_max(sequential, l[i]);
        std::vector<float> lanes(32, l[0]);
        for (int lane = 0; lane < 32; ++lane)
            for (int i = lane; i < n; i += 32) lanes[lane] = math::running_max(lanes[lane], l[i]);
        const float warp = butterfly(lanes, [](float a, float b) { return math::running_max(a, b); });
        INFO("trial " << trial);
        REQUIRE(std::isnan(warp) == std::isnan(l[0]));
        REQUIRE(std::isnan(sequential) == std::isnan(l[0]));
        for (int i = 0; i < n; ++i) {
            const float a = math::softmax_numerator(l[i], sequential), b = math::softmax_numerator(l[i], warp);
            REQUIRE(std::memcmp(&a, &b, sizeof a) == 0);
        }
    }
}

TEST_CASE("warp order: K rounds of a butterfly arg-max under ranks_before select what top_k_indices selects",
          "[router][cuda_order]") {
    std::mt19937 rng(42);
    for (int trial = 0; trial < 500; ++trial) {
        const int n = 1 + trial % 200, k = 1 + trial % std::min(n, 16);
        const std::vector<float> v = awkward_logits(rng, n);
        std::vector<int> want(static_cast<std::size_t>(k));
        moe::top_k_indices(v.data(), n, k, [](int) { return true; }, want.data());
        std::vector<bool> open(static_cast<std::size_t>(n), true);
        std::vector<int> got;
        using best = std::pair<float, int>;  // (value, index); index −1: none
        auto better = [](best a, best b) {
            if (b.second < 0) return a;
            if (a.second < 0 || moe::ranks_before(b.first, b.second, a.first, a.second)) return b;
            return a;
        };
        for (int j = 0; j < k; ++j) {
            std::vector<best> lanes(32, best{0.0f, -1});
            for (int lane = 0; lane < 32; ++lane)
                for (int i = lane; i < n; i += 32)
                    if (open[i]) lanes[lane] = better(lanes[lane], best{v[i], i});
            const int chosen = butterfly(lanes, better).second;
            got.push_back(chosen);
            open[chosen] = false;
        }
        INFO("trial " << trial << ", n " << n << ", k " << k);
        REQUIRE(got == want);
    }
}

}  // namespace test_router_semantics
