// The sampler chain's arithmetic, stage by stage and in both orders, the random numbers, and log-probabilities.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "moe/decoding/rng.hpp"
#include "moe/decoding/sampler.hpp"

namespace test_sampler_chain {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe::decoding;

namespace {
sampler_config off() {  // every stage neutral; tests switch on what they check
    sampler_config c;
    c.temperature = 1.0f;
    c.top_k = 0;
    c.top_p = 1.0f;
    c.min_p = 0.0f;
    return c;
}
std::vector<std::int32_t> ids(const std::vector<candidate>& c) {
    std::vector<std::int32_t> out;
    for (const auto& x : c) out.push_back(x.id);
    return out;
}
}  // namespace

TEST_CASE("rng: SplitMix64 and xoshiro256** give the reference numbers", "[decoding]") {
    std::uint64_t state = 0;
    CHECK(splitmix64(state) == 0xE220A8397B1DCDAFull);  // the published first output for seed 0
    rng r(42);
    CHECK(r.next() == 0x15780b2e0c2ec716ull);  // same algorithm written independently in Python
    CHECK(r.next() == 0x6104d9866d113a7eull);
    CHECK(r.next() == 0xae17533239e499a1ull);
    rng s(42, 1);  // another stream of the same seed
    CHECK(s.next() == 0x0030425e2a3dc334ull);
    rng u(7);
    for (int k = 0; k < 1000; ++k) {
        const double x = u.uniform();
        REQUIRE((x >= 0.0 && x < 1.0));
    }
}

TEST_CASE("penalties: repetition divides positive / multiplies negative logits, then frequency and presence", "[decoding]") {
    const std::vector<float> l{2.0f, -2.0f, 1.0f, 0.5f};
    const std::vector<std::int32_t> history{0, 1, 0};  // token 0 twice, token 1 once
    sampler_config c = off();
    c.order = {sampler_stage::penalties};
    c.repeat_penalty = 2.0f;
    c.frequency_penalty = 0.5f;
    c.presence_penalty = 0.25f;
    auto out = apply_sampler_chain(l, history, c);
    // 2 / 2 − 2·0.5 − 0.25 = −0.25;  −2·2 − 0.5 − 0.25 = −4.75; tokens 2, 3 untouched
    REQUIRE(ids(out) == std::vector<std::int32_t>{2, 3, 0, 1});
    CHECK(out[0].logit == 1.0f);
    CHECK(out[1].logit == 0.5f);
    CHECK(out[2].logit == -0.25f);
    CHECK(out[3].logit == -4.75f);
    c.penalty_last_n = 1;  // only the last token (0, once): 2 / 2 − 0.5 − 0.25 = 0.25; token 1 untouched
    out = apply_sampler_chain(l, history, c);
    REQUIRE(ids(out) == std::vector<std::int32_t>{2, 3, 0, 1});
    CHECK(out[2].logit == 0.25f);
    CHECK(out[3].logit == -2.0f);
}

TEST_CASE("top-k, top-p, min-p, temperature, greedy", "[decoding]") {
    const std::vector<float> l{1.0f, 4.0f, 3.0f, 2.0f, 4.0f};  // tokens 1 and 4 tie
    sampler_config c = off();
    c.top_k = 2;
    CHECK(ids(apply_sampler_chain(l, {}, c)) == std::vector<std::int32_t>{1, 4});  // tie: smaller id first

    // softmax of (4, 4, 3, 2, 1): 0.3452, 0.3452, 0.1270, 0.0467, 0.0172 → Σ of the first three 0.8174
    c = off();
    c.top_p = 0.8f;
    CHECK(ids(apply_sampler_chain(l, {}, c)) == std::vector<std::int32_t>{1, 4, 2});
    c.top_p = 0.6f;  // 0.6904 ≥ 0.6 after two
    CHECK(ids(apply_sampler_chain(l, {}, c)) == std::vector<std::int32_t>{1, 4});

    // min-p 0.1: keep exp(l − 4) ≥ 0.1 → l ≥ 4 + ln 0.1 = 1.697
    c = off();
    c.min_p = 0.1f;
    CHECK(ids(apply_sampler_chain(l, {}, c)) == std::vector<std::int32_t>{1, 4, 2, 3});

    c = off();
    c.temperature = 2.0f;
    auto out = apply_sampler_chain(l, {}, c);
    CHECK(out[0].logit == 2.0f);
    CHECK(out[4].logit == 0.5f);

    c = off();
    c.temperature = 0.0f;
    CHECK(ids(apply_sampler_chain(l, {}, c)) == std::vector<std::int32_t>{1});
    rng r(1);
    CHECK(sample(l, {}, sampler_config::greedy(), r) == 1);
}

TEST_CASE("the order matters: llama.cpp (temperature last) vs Hugging Face (temperature first)", "[decoding]") {
    const std::vector<float> l{0.0f, -1.0f, -3.0f};
    sampler_config c = off();
    c.min_p = 0.1f;
    c.temperature = 2.0f;
    c.order = sampler_orders::llama_cpp;  // min-p on raw logits: exp(−3) = 0.0498 < 0.1 drops token 2
    const auto llama = apply_sampler_chain(l, {}, c);
    CHECK(ids(llama) == std::vector<std::int32_t>{0, 1});
    CHECK(llama[1].logit == -0.5f);
    c.order = sampler_orders::hugging_face;  // temperature first: exp(−1.5) = 0.223 ≥ 0.1 keeps it
    CHECK(ids(apply_sampler_chain(l, {}, c)) == std::vector<std::int32_t>{0, 1, 2});
}

TEST_CASE("sampling draws one uniform number and walks the cumulative distribution", "[decoding]") {
    // probabilities 0.5, 0.3, 0.2 (logits ln p)
    const std::vector<float> l{std::log(0.2f), std::log(0.5f), std::log(0.3f)};
    const sampler_config c = off();
    rng r(123), copy(123);
    for (int k = 0; k < 50; ++k) {
        const double u = copy.uniform();
        const std::int32_t expected = u < 0.5 ? 1 : (u < 0.8 ? 2 : 0);
        REQUIRE(sample(l, {}, c, r) == expected);
    }
    rng many(5);
    int count[3] = {0, 0, 0};
    const int n = 20000;
    for (int k = 0; k < n; ++k) ++count[sample(l, {}, c, many)];
    CHECK(std::abs(count[1] / double(n) - 0.5) < 0.015);
    CHECK(std::abs(count[2] / double(n) - 0.3) < 0.015);
    CHECK(std::abs(count[0] / double(n) - 0.2) < 0.015);
}

TEST_CASE("tiny temperatures behave as greedy (l / T overflowing to infinity is not a NaN softmax)", "[decoding]") {
    // Logits of both signs and a negative best, so l / T overflows to +inf and -inf at once.
    const std::vector<float> l{-3.0f, 2.5f, -0.5f, 1.0f, 2.4f};
    for (const auto& order : {sampler_orders::llama_cpp, sampler_orders::hugging_face}) {
        for (const float T : {1e-30f, 1e-38f, 1e-39f, 1e-45f}) {
            sampler_config c = off();
            c.order = order;
            c.temperature = T;
            rng r(99);
            for (int k = 0; k < 200; ++k) REQUIRE(sample(l, {}, c, r) == 1);
            // The chain keeps the best at a finite logit and pushes the rest to -inf (probability 0).
            const auto kept = apply_sampler_chain(l, {}, c);
            REQUIRE(!kept.empty());
            CHECK(kept[0].id == 1);
            const auto p = probabilities(kept);
            CHECK(p[0] == 1.0);
        }
    }
    // A negative-only row: the largest (least negative) still wins.
    const std::vector<float> negative{-9.0f, -2.0f, -7.0f};
    sampler_config c = off();
    c.temperature = 1e-40f;
    rng r(3);
    for (int k = 0; k < 50; ++k) REQUIRE(sample(negative, {}, c, r) == 1);
}

TEST_CASE("log-probabilities and the top-two margin come from the raw logits", "[decoding]") {
    const std::vector<float> l{0.0f, 2.0f, 1.0f};
    const double z = 1.0 + std::exp(2.0) + std::exp(1.0);
    const auto top = top_logprobs(l, 2);
    REQUIRE(top.size() == 2);
    CHECK(top[0].id == 1);
    CHECK(top[0].logprob == Approx(2.0 - std::log(z)).epsilon(1e-12));
    CHECK(top[1].id == 2);
    const step_statistics s = statistics(l, 0);
    CHECK(s.logprob == Approx(-std::log(z)).epsilon(1e-12));
    CHECK(s.margin == Approx((std::exp(2.0) - std::exp(1.0)) / z).epsilon(1e-12));
    CHECK(statistics(std::vector<float>{3.0f, 3.0f}, 0).margin == 0.0);  // a tie has no margin
}

}  // namespace test_sampler_chain
