// Non-finite logits (issue 13): a NaN or an infinity among the raw logits stops every token-picking path with
// decoding::non_finite_logits naming where (branch, generated token, position) and how many — the sampler chain,
// greedy, top-N log-probabilities, the per-step statistics, generate() with forced tokens (thinking budget, s1),
// self-consistency and CoT-decoding's top-k start. Checked on the scripted stub model, whose logits are exact.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "moe/decoding.hpp"
#include "stub_model.hpp"

namespace test_non_finite_logits {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe::decoding;

namespace {

const moe::text::tokenizer& tok() {
    static const moe::text::tokenizer t = stub::make_tokenizer();
    return t;
}
const std::vector<std::int32_t> prompt{stub::x, stub::a, stub::b};  // P = 3
constexpr float nan_value = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_value = std::numeric_limits<float>::infinity();

// The message of the non_finite_logits `f` throws (fails when it throws nothing or something else).
template <class F>
std::string non_finite_message(F&& f) {
    try {
        f();
    } catch (const non_finite_logits& e) {
        return e.what();
    } catch (const std::exception& e) {
        FAIL("another exception: " << e.what());
    }
    FAIL("no exception");
    return {};
}

bool has(const std::string& message, const std::string& piece) {
    INFO("message: " << message << "\nexpected piece: " << piece);
    return message.find(piece) != std::string::npos;
}

// Finite logits favouring `a` for the first `finite_steps` generated tokens, then NaN at two ids.
stub::model nan_after(std::size_t finite_steps) {
    return stub::model([finite_steps](std::span<const std::int32_t> all) {
        std::vector<float> l = stub::certain(stub::a);
        if (all.size() - prompt.size() >= finite_steps) l[3] = l[7] = nan_value;
        return l;
    });
}

}  // namespace

TEST_CASE("sampler functions refuse NaN and infinite logits, counting them", "[decoding][non_finite]") {
    rng random(1, 0);
    for (const float bad : {nan_value, inf_value, -inf_value}) {
        std::vector<float> l = stub::certain(stub::a);
        l[5] = bad;
        l[9] = bad;
        const std::string m = non_finite_message([&] { (void)sample(l, {}, sampler_config{}, random); });
        CHECK(has(m, "sampler: 2 of 21 logits are not finite"));
        CHECK(has(m, "first: token 5"));
        // Greedy too: a NaN used to sort anywhere and be picked or hide the maximum.
        CHECK(has(non_finite_message([&] { (void)sample(l, {}, sampler_config::greedy(), random); }), "2 of 21"));
        CHECK(has(non_finite_message([&] { (void)top_logprobs(l, 3); }), "top_logprobs: 2 of 21"));
        CHECK(has(non_finite_message([&] { (void)statistics(l, stub::a); }), "2 of 21"));
    }
    std::vector<float> l = stub::certain(stub::a);
    l[0] = nan_value;
    CHECK(has(non_finite_message([&] { (void)sample(l, {}, sampler_config{}, random); }), "token 0 = nan"));
    // Finite logits, however extreme, are still sampled.
    std::vector<float> extreme = stub::logits({{stub::b, std::numeric_limits<float>::max()}}, -std::numeric_limits<float>::max());
    CHECK(sample(extreme, {}, sampler_config::greedy(), random) == stub::b);
}

TEST_CASE("generate stops at the first non-finite logits, naming branch, token and position", "[decoding][non_finite]") {
    stub::executor exec;
    generation_options o;
    o.sampler = sampler_config::greedy();
    o.max_tokens = 16;

    auto m = nan_after(2);  // tokens 0 and 1 are fine; the logits for generated token 2 hold two NaNs
    const std::string msg = non_finite_message([&] { (void)generate(m, tok(), prompt, o, exec); });
    CHECK(has(msg, "generate: branch 0, generated token 2 (position 5 of the sequence)"));
    CHECK(has(msg, "2 of 21 logits are not finite"));

    // The prompt's own logits (position P) already.
    auto at_once = nan_after(0);
    CHECK(has(non_finite_message([&] { (void)generate(at_once, tok(), prompt, o, exec); }),
              "branch 0, generated token 0 (position 3 of the sequence)"));

    // Forced tokens do not skip the check: a thinking budget of 0 forces </think> at once.
    o.reasoning.starts_in_thinking = true;
    o.reasoning.thinking_budget = 0;
    CHECK(has(non_finite_message([&] { (void)generate(at_once, tok(), prompt, o, exec); }), "generated token 0"));
}

TEST_CASE("s1 minimum thinking and self-consistency branches are checked too", "[decoding][non_finite]") {
    stub::executor exec;
    // s1: the model ends thinking at once (</think> sampled, replaced by "Wait"), then its logits turn NaN.
    auto m = stub::model([](std::span<const std::int32_t> all) {
        std::vector<float> l = stub::certain(stub::end_think);
        if (all.size() - prompt.size() >= 1) l[stub::a] = nan_value;
        return l;
    });
    generation_options o;
    o.sampler = sampler_config::greedy();
    o.max_tokens = 8;
    o.reasoning.starts_in_thinking = true;
    o.reasoning.min_thinking_tokens = 4;
    o.reasoning.max_waits = 2;
    CHECK(has(non_finite_message([&] { (void)generate(m, tok(), prompt, o, exec); }), "generated token 1 (position 4"));

    // Self-consistency: only branch 1's path turns NaN (its first sampled token differs).
    auto branchy = stub::model([](std::span<const std::int32_t> all) {
        std::vector<float> l = stub::logits({{stub::a, 1.0f}, {stub::b, 1.0f}});
        const auto g = all.subspan(prompt.size());
        if (!g.empty() && g[0] == stub::b) l[stub::one] = inf_value;
        return l;
    });
    self_consistency_options sc;
    sc.generation.sampler = sampler_config{};
    sc.generation.sampler.temperature = 1.0f;
    sc.generation.max_tokens = 4;
    sc.generation.branches = 8;
    const std::string msg = non_finite_message([&] { (void)self_consistency(branchy, tok(), prompt, sc, exec); });
    CHECK(has(msg, "generated token 1 (position 4 of the sequence)"));
    CHECK(has(msg, "1 of 21 logits are not finite (first: token 6 = inf)"));
}

TEST_CASE("CoT-decoding refuses non-finite prompt logits before branching on the top k", "[decoding][non_finite]") {
    stub::executor exec;
    auto m = nan_after(0);
    cot_options o;
    o.k = 3;
    const std::string msg = non_finite_message([&] { (void)cot_decoding(m, tok(), prompt, o, exec); });
    CHECK(has(msg, "cot_decoding: the prompt's last logits (position 3 of the sequence)"));
    CHECK(has(msg, "2 of 21"));
    // NaN later, inside a greedy branch: the branch's margins are never computed from it.
    auto later = nan_after(2);
    CHECK(has(non_finite_message([&] { (void)cot_decoding(later, tok(), prompt, o, exec); }), "generated token 2"));
}

}  // namespace test_non_finite_logits
