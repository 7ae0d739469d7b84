// Generation rules on the scripted stub model: streams, thinking budget, s1 minimum, loop detection, stops,
// batching, seeds, answer extraction, self-consistency votes and CoT-decoding's Δ — each checked to the number.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "moe/decoding.hpp"
#include "stub_model.hpp"

namespace test_generation_rules {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe::decoding;

namespace {

const moe::text::tokenizer& tok() {
    static const moe::text::tokenizer t = stub::make_tokenizer();
    return t;
}
const std::vector<std::int32_t> prompt{stub::x};

// Script from the generated tokens only (the prompt is one token).
stub::model scripted(std::function<std::vector<float>(std::span<const std::int32_t>)> next) {
    return stub::model([next](std::span<const std::int32_t> all) { return next(all.subspan(prompt.size())); });
}
std::int32_t last(std::span<const std::int32_t> g, std::int32_t none = -1) { return g.empty() ? none : g.back(); }

generation_options greedy_options(int max_tokens = 64) {
    generation_options o;
    o.sampler = sampler_config::greedy();
    o.max_tokens = max_tokens;
    o.stop_tokens = {stub::eos};
    return o;
}

struct collected {
    std::vector<std::string> reasoning, answer;  // pieces as streamed
    std::string r() const { std::string s; for (auto& p : reasoning) s += p; return s; }
    std::string a() const { std::string s; for (auto& p : answer) s += p; return s; }
    stream_callback callback() {
        return [this](std::size_t, text_stream s, std::string_view text) {
            (s == text_stream::reasoning ? reasoning : answer).emplace_back(text);
        };
    }
};

// Thinks "ab", closes, answers "12", ends.
std::vector<float> think_then_answer(std::span<const std::int32_t> g) {
    static const std::vector<std::int32_t> script{stub::a, stub::b, stub::end_think, stub::one, stub::two, stub::eos};
    std::size_t n = g.size();
    if (!g.empty() && g[0] == stub::think) --n;  // the same script after an opening <think>
    return stub::certain(n < script.size() ? script[n] : stub::eos);
}

double margin_of(const std::vector<float>& l) {  // p(top1) − p(top2) in double, as the paper defines it
    std::vector<double> p;
    double max = -1e300, z = 0;
    for (float v : l) max = std::max(max, double(v));
    for (float v : l) z += std::exp(double(v) - max);
    for (float v : l) p.push_back(std::exp(double(v) - max) / z);
    std::sort(p.rbegin(), p.rend());
    return p[0] - p[1];
}

}  // namespace

TEST_CASE("streams: reasoning and answer apart, whether the prompt opened <think> or the model does", "[decoding]") {
    stub::executor pool;
    SECTION("generation starts inside the thinking block") {
        auto m = scripted(think_then_answer);
        auto o = greedy_options();
        o.reasoning.starts_in_thinking = true;
        collected c;
        const auto r = generate(m, tok(), prompt, o, pool, c.callback());
        const auto& b = r.branches[0];
        CHECK(b.reasoning == "ab");
        CHECK(b.answer == "12");
        CHECK(c.r() == "ab");
        CHECK(c.a() == "12");
        CHECK(b.thinking_tokens == 2);
        CHECK(b.finish == finish_reason::stop_token);
        CHECK(b.ids() == std::vector<std::int32_t>{stub::a, stub::b, stub::end_think, stub::one, stub::two, stub::eos});
        CHECK(b.tokens[2].stream == text_stream::none);
        CHECK(b.tokens[3].stream == text_stream::answer);
        CHECK(b.tokens[3].text_begin == 0);
        CHECK(b.tokens[4].text_end == 2);
        // The executor the caller handed in is the one every forward call ran on.
        CHECK(pool.forward_calls == static_cast<int>(m.batch_sizes.size()));
        CHECK(pool.forward_calls > 0);
    }
    SECTION("the model opens <think> itself") {
        auto m = scripted([](std::span<const std::int32_t> g) {
            return g.empty() ? stub::certain(stub::think) : think_then_answer(g);
        });
        collected c;
        const auto r = generate(m, tok(), prompt, greedy_options(), pool, c.callback());
        CHECK(r.branches[0].reasoning == "ab");
        CHECK(r.branches[0].answer == "12");
        CHECK(c.r() == "ab");
        CHECK(c.a() == "12");
    }
    SECTION("no thinking block: everything is answer; </think> outside a block is plain text") {
        auto m = scripted([](std::span<const std::int32_t> g) {
            return stub::certain(g.size() < 2 ? stub::a : stub::eos);
        });
        const auto r = generate(m, tok(), prompt, greedy_options(), pool);
        CHECK(r.branches[0].reasoning.empty());
        CHECK(r.branches[0].answer == "aa");
    }
}

TEST_CASE("thinking budget: hard cap, optional message, forced delimiter, then the answer", "[decoding]") {
    stub::executor pool;
    // Thinks "a" forever; after </think> answers "1" and ends.
    auto m = scripted([](std::span<const std::int32_t> g) {
        if (last(g) == stub::end_think) return stub::certain(stub::one);
        if (last(g) == stub::one) return stub::certain(stub::eos);
        return stub::certain(stub::a);
    });
    auto o = greedy_options();
    o.reasoning.starts_in_thinking = true;
    SECTION("budget 3 with a message") {
        o.reasoning.thinking_budget = 3;
        o.reasoning.budget_message = ".";
        const auto b = generate(m, tok(), prompt, o, pool).branches[0];
        CHECK(b.ids() == std::vector<std::int32_t>{stub::a, stub::a, stub::a, stub::dot, stub::end_think, stub::one, stub::eos});
        CHECK(b.reasoning == "aaa.");
        CHECK(b.answer == "1");
        CHECK(b.thinking_tokens == 3);
        CHECK(b.budget_forced);
        CHECK((!b.tokens[2].forced && b.tokens[3].forced && b.tokens[4].forced && !b.tokens[5].forced));
    }
    SECTION("budget 0: the answer starts at once") {
        o.reasoning.thinking_budget = 0;
        const auto b = generate(m, tok(), prompt, o, pool).branches[0];
        CHECK(b.ids() == std::vector<std::int32_t>{stub::end_think, stub::one, stub::eos});
        CHECK(b.reasoning.empty());
        CHECK(b.answer == "1");
        CHECK(b.thinking_tokens == 0);
    }
    SECTION("no budget: thinking eats max_tokens and the answer is empty (what the cap prevents)") {
        o.max_tokens = 10;
        const auto b = generate(m, tok(), prompt, o, pool).branches[0];
        CHECK(b.reasoning == "aaaaaaaaaa");
        CHECK(b.answer.empty());
        CHECK(b.finish == finish_reason::max_tokens);
    }
}

TEST_CASE("thinking budget finishes the current UTF-8 character before forcing the delimiter", "[decoding]") {
    stub::executor pool;
    // Thinks "é" as two byte tokens (Ã ©), forever.
    auto m = scripted([](std::span<const std::int32_t> g) {
        if (last(g) == stub::end_think) return stub::certain(stub::eos);
        return stub::certain(last(g) == stub::e_lead ? stub::e_tail : stub::e_lead);
    });
    auto o = greedy_options();
    o.reasoning.starts_in_thinking = true;
    o.reasoning.thinking_budget = 3;  // ends inside the second "é": one more token completes it
    collected c;
    const auto b = generate(m, tok(), prompt, o, pool, c.callback()).branches[0];
    CHECK(b.ids() == std::vector<std::int32_t>{stub::e_lead, stub::e_tail, stub::e_lead, stub::e_tail, stub::end_think, stub::eos});
    CHECK(b.reasoning == "\xC3\xA9\xC3\xA9");
    CHECK(c.r() == "\xC3\xA9\xC3\xA9");
    CHECK(c.reasoning.size() == 2);  // one piece per whole character
    CHECK(b.thinking_tokens == 4);
    CHECK(b.tokens[0].text_begin == 0);  // both byte tokens own the character's bytes
    CHECK(b.tokens[0].text_end == 2);
    CHECK(b.tokens[1].text_end == 2);
    o.reasoning.thinking_budget = 2;  // on a boundary: forced at once
    CHECK(generate(m, tok(), prompt, o, pool).branches[0].ids() ==
          std::vector<std::int32_t>{stub::e_lead, stub::e_tail, stub::end_think, stub::eos});
}

TEST_CASE("minimum thinking (s1): an early </think> becomes \"Wait\", at most max_waits times", "[decoding]") {
    stub::executor pool;
    // Thinks "b" then wants to stop; answers "1".
    auto m = scripted([](std::span<const std::int32_t> g) {
        const std::int32_t l = last(g);
        if (l == stub::b) return stub::certain(stub::end_think);
        if (l == stub::end_think) return stub::certain(stub::one);
        if (l == stub::one) return stub::certain(stub::eos);
        return stub::certain(stub::b);
    });
    auto o = greedy_options();
    o.reasoning.starts_in_thinking = true;
    o.reasoning.min_thinking_tokens = 10;
    o.reasoning.max_waits = 2;
    const auto b = generate(m, tok(), prompt, o, pool).branches[0];
    CHECK(b.ids() == std::vector<std::int32_t>{stub::b, stub::wait, stub::b, stub::wait, stub::b, stub::end_think, stub::one, stub::eos});
    CHECK(b.reasoning == "bWaitbWaitb");
    CHECK(b.answer == "1");
    CHECK(b.waits == 2);
    CHECK(b.thinking_tokens == 5);
    CHECK(b.tokens[1].forced);
    o.reasoning.min_thinking_tokens = 3;  // reached after b Wait b: the second </think> is accepted
    const auto c = generate(m, tok(), prompt, o, pool).branches[0];
    CHECK(c.reasoning == "bWaitb");
    CHECK(c.waits == 1);
}

TEST_CASE("loop detection stops a greedy branch that repeats an n-gram", "[decoding]") {
    stub::executor pool;
    auto m = scripted([](std::span<const std::int32_t> g) {  // a b x a b x …
        static const std::int32_t cycle[3] = {stub::a, stub::b, stub::x};
        return stub::certain(cycle[g.size() % 3]);
    });
    auto o = greedy_options(100);
    o.loop = {.max_ngram = 4, .repeats = 3, .min_span = 0};
    auto b = generate(m, tok(), prompt, o, pool).branches[0];
    CHECK(b.tokens.size() == 9);  // the third copy of "a b x"
    CHECK(b.finish == finish_reason::loop);
    CHECK(b.answer == "abxabxabx");
    o.loop = loop_options{};  // defaults: period ≤ 16, 4 copies, at least 32 tokens
    CHECK(generate(m, tok(), prompt, o, pool).branches[0].tokens.size() == 32);
    o.loop.max_ngram = 2;  // period 3 is not looked for
    CHECK(generate(m, tok(), prompt, o, pool).branches[0].finish == finish_reason::max_tokens);
    CHECK(is_looping(std::vector<std::int32_t>{1, 2, 2, 2, 2}, {.max_ngram = 1, .repeats = 4, .min_span = 0}));
    CHECK(!is_looping(std::vector<std::int32_t>{1, 2, 2, 2}, {.max_ngram = 1, .repeats = 4, .min_span = 0}));
}

TEST_CASE("stop strings cut the text where they start and are never streamed; stop tokens and max_tokens", "[decoding]") {
    stub::executor pool;
    auto m = scripted([](std::span<const std::int32_t> g) { return stub::certain(g.size() % 2 ? stub::b : stub::a); });
    auto o = greedy_options();
    o.stop_strings = {"ba"};
    collected c;
    auto b = generate(m, tok(), prompt, o, pool, c.callback()).branches[0];
    CHECK(b.tokens.size() == 3);  // a b a → "aba" holds "ba"
    CHECK(b.answer == "a");
    CHECK(c.a() == "a");  // the "b" was held back as a possible start of "ba"
    CHECK(b.finish == finish_reason::stop_string);
    o.stop_strings.clear();
    o.max_tokens = 5;
    b = generate(m, tok(), prompt, o, pool).branches[0];
    CHECK(b.answer == "ababa");
    CHECK(b.finish == finish_reason::max_tokens);
    o.max_tokens = 0;
    CHECK(generate(m, tok(), prompt, o, pool).branches[0].tokens.empty());
}

TEST_CASE("branches share the prompt and run in one batched forward per step", "[decoding]") {
    stub::executor pool;
    // Branch lengths differ: every sequence stops after as many tokens as its first sampled token says (1, 2, 3).
    auto m = stub::model([](std::span<const std::int32_t> all) {
        const auto g = all.subspan(1);
        if (g.empty()) return stub::logits({{stub::one, 0.0f}, {stub::two, 0.0f}, {stub::three, 0.0f}});
        const std::size_t want = g[0] == stub::one ? 1 : g[0] == stub::two ? 2 : 3;
        return stub::certain(g.size() >= want ? stub::eos : stub::a);
    });
    generation_options o;
    o.sampler = sampler_config{};
    o.sampler.temperature = 1.0f;
    o.branches = 6;
    o.seed = 11;
    o.stop_tokens = {stub::eos};
    const auto r = generate(m, tok(), prompt, o, pool);
    std::size_t longest = 0;
    std::vector<std::size_t> expected_batches{1};  // the prefill: the prompt once
    for (std::size_t step = 0;; ++step) {
        std::size_t live = 0;
        for (const auto& b : r.branches) live += b.tokens.size() > step + 1;  // fed tokens are all but the last
        if (live == 0) break;
        expected_batches.push_back(live);
    }
    for (const auto& b : r.branches) {
        const std::size_t want = b.tokens[0].id == stub::one ? 1 : b.tokens[0].id == stub::two ? 2 : 3;
        CHECK(b.tokens.size() == want + 1);
        longest = std::max(longest, b.tokens.size());
    }
    CHECK(m.batch_sizes == expected_batches);
    CHECK(r.forward_calls == static_cast<std::int64_t>(longest - 1));

    // Branch b draws from rng(seed, b): branch 0 of six equals a lone branch with the same seed.
    o.branches = 1;
    auto m1 = m;
    CHECK(generate(m1, tok(), prompt, o, pool).branches[0].ids() == r.branches[0].ids());
    o.branches = 6;
    CHECK(generate(m1, tok(), prompt, o, pool).branches[3].ids() == r.branches[3].ids());
}

TEST_CASE("top-N log-probabilities per step", "[decoding]") {
    stub::executor pool;
    auto m = scripted([](std::span<const std::int32_t> g) {
        return g.empty() ? stub::logits({{stub::a, 1.0f}, {stub::b, 0.0f}}) : stub::certain(stub::eos);
    });
    auto o = greedy_options();
    o.top_logprobs = 2;
    const auto b = generate(m, tok(), prompt, o, pool).branches[0];
    REQUIRE(b.tokens[0].top.size() == 2);
    const double z = std::exp(1.0) + 1.0 + 19 * std::exp(-20.0);
    CHECK(b.tokens[0].top[0].id == stub::a);
    CHECK(b.tokens[0].top[0].logprob == Approx(1.0 - std::log(z)).epsilon(1e-12));
    CHECK(b.tokens[0].top[1].id == stub::b);
    CHECK(b.tokens[0].logprob == Approx(1.0 - std::log(z)).epsilon(1e-12));
}

TEST_CASE("answer extraction: last number, regex, text after the thinking block", "[decoding]") {
    auto n = extract_answer("x = 1,234.5 then 8, finally -7.", {});
    REQUIRE(n);
    CHECK(n->value == "-7");
    CHECK(n->begin == 28);
    CHECK(n->end == 30);
    CHECK(extract_answer("so 1,234.5 it is", {})->value == "1234.5");
    CHECK(!extract_answer("no digits", {}));
    const answer_rule boxed{answer_kind::regex, R"(\\boxed\{([^}]*)\})"};
    CHECK(extract_answer(R"(a \boxed{3} then \boxed{x+1} done)", boxed)->value == "x+1");
    const auto t = extract_answer("\n\n The answer.\n", {answer_kind::after_thinking, ""});
    CHECK(t->value == "The answer.");
    CHECK(t->begin == 3);
}

TEST_CASE("self-consistency: majority vote with counts, ties to the earliest branch", "[decoding]") {
    auto ans = [](const char* v) { return std::optional<extracted_answer>(extracted_answer{v, 0, 0}); };
    const std::vector<std::optional<extracted_answer>> paths{ans("12"), ans("3"), ans("12"), std::nullopt, ans("3"), ans("7")};
    const auto v = count_votes(paths);
    REQUIRE(v.size() == 3);
    CHECK((v[0].answer == "12" && v[0].votes == 2 && v[0].first_branch == 0));
    CHECK((v[1].answer == "3" && v[1].votes == 2 && v[1].first_branch == 1));
    CHECK((v[2].answer == "7" && v[2].votes == 1));
    CHECK(count_votes({ans("3"), ans("12"), ans("12"), ans("3")})[0].answer == "3");

    // End to end on the stub: the first sampled token is the answer (1, 2 or 3 with p = 0.5, 0.3, 0.2).
    stub::executor pool;
    auto m = scripted([](std::span<const std::int32_t> g) {
        if (!g.empty()) return stub::certain(stub::eos);
        return stub::logits({{stub::one, std::log(0.5f)}, {stub::two, std::log(0.3f)}, {stub::three, std::log(0.2f)}});
    });
    self_consistency_options o;
    o.generation.sampler.temperature = 1.0f;
    o.generation.sampler.top_k = 0;
    o.generation.sampler.top_p = 1.0f;
    o.generation.sampler.min_p = 0.0f;
    o.generation.branches = 40;
    o.generation.seed = 3;
    o.generation.stop_tokens = {stub::eos};
    const auto r = self_consistency(m, tok(), prompt, o, pool);
    int counts[3] = {0, 0, 0};
    for (const auto& b : r.generation.branches) ++counts[b.tokens[0].id - stub::one];
    int total = 0;
    for (const auto& vote : r.votes) {
        CHECK(vote.votes == counts[std::stoi(vote.answer) - 1]);
        total += vote.votes;
    }
    CHECK(total == 40);
    CHECK(r.answer == r.votes[0].answer);
    CHECK(*r.answer == "1");  // p = 0.5 wins among 40 paths with this seed
}

TEST_CASE("CoT-decoding: top-k first tokens, greedy branches, Δ over the answer tokens only", "[decoding]") {
    stub::executor pool;
    // First step: "1" (3.0), "2" (2.0), "a" (1.0). Then
    //   "1" → "2" → eos              text "12"    answer 12, tokens 0–1
    //   "2" → " " → "1" → "2" → eos  text "2 12"  answer 12, tokens 2–3
    //   "a" → " " → "3" → eos        text "a 3"   answer 3, token 2
    const auto first = stub::logits({{stub::one, 3.0f}, {stub::two, 2.0f}, {stub::a, 1.0f}});
    const auto s_12 = stub::logits({{stub::two, 4.0f}, {stub::one, 1.0f}});
    const auto s_sp = stub::logits({{stub::space, 2.0f}, {stub::b, 1.5f}});
    const auto s_1 = stub::logits({{stub::one, 1.0f}, {stub::three, 0.5f}, {stub::four, 0.25f}});
    const auto s_2 = stub::logits({{stub::two, 3.0f}, {stub::three, 2.9f}});
    const auto s_3 = stub::logits({{stub::three, 0.3f}, {stub::one, 0.2f}});
    const auto end = stub::certain(stub::eos);
    auto m = scripted([&](std::span<const std::int32_t> g) {
        const std::vector<std::int32_t> v(g.begin(), g.end());
        using V = std::vector<std::int32_t>;
        if (v.empty()) return first;
        if (v == V{stub::one}) return s_12;
        if (v == V{stub::two} || v == V{stub::a}) return s_sp;
        if (v == V{stub::two, stub::space}) return s_1;
        if (v == V{stub::two, stub::space, stub::one}) return s_2;
        if (v == V{stub::a, stub::space}) return s_3;
        return end;
    });
    cot_options o;
    o.k = 3;
    o.stop_tokens = {stub::eos};
    const auto r = cot_decoding(m, tok(), prompt, o, pool);
    REQUIRE(r.branches.size() == 3);
    CHECK(r.branches[0].first_token == stub::one);
    CHECK(r.branches[2].first_token == stub::a);
    const double d0 = (margin_of(first) + margin_of(s_12)) / 2;
    const double d1 = (margin_of(s_1) + margin_of(s_2)) / 2;
    const double d2 = margin_of(s_3);
    CHECK(r.branches[0].answer->value == "12");
    CHECK(r.branches[1].answer->value == "12");
    CHECK(r.branches[2].answer->value == "3");
    CHECK(r.branches[0].answer_tokens == std::vector<std::size_t>{0, 1});
    CHECK(r.branches[1].answer_tokens == std::vector<std::size_t>{2, 3});
    CHECK(r.branches[2].answer_tokens == std::vector<std::size_t>{2});
    CHECK(r.branches[0].delta == Approx(d0).epsilon(1e-12));
    CHECK(r.branches[1].delta == Approx(d1).epsilon(1e-12));
    CHECK(r.branches[2].delta == Approx(d2).epsilon(1e-12));
    CHECK(d0 == Approx(0.6628).margin(1e-4));  // the numbers themselves, for the record
    CHECK(d1 == Approx(0.1196).margin(1e-4));
    CHECK(d2 == Approx(0.0500).margin(1e-4));
    // Averaging over the whole continuation (the known wrong variant) would give another number for branch 1.
    const double whole = (margin_of(first) + margin_of(s_sp) + margin_of(s_1) + margin_of(s_2) + margin_of(end)) / 5;
    CHECK(std::abs(whole - d1) > 0.05);
    CHECK(*r.max_path_branch == 0);
    CHECK(*r.max_path_answer == "12");
    REQUIRE(r.aggregated.size() == 2);
    CHECK(r.aggregated[0].answer == "12");
    CHECK(r.aggregated[0].delta_sum == Approx(d0 + d1).epsilon(1e-12));
    CHECK(r.aggregated[1].delta_sum == Approx(d2).epsilon(1e-12));
    CHECK(*r.aggregated_answer == "12");
}

TEST_CASE("a malformed answer regex is a library error naming the pattern", "[decoding]") {
    const answer_rule bad{answer_kind::regex, "([0-9]+"};
    try {
        (void)extract_answer("42", bad);
        FAIL("no exception");
    } catch (const moe::invalid_argument& e) {
        CHECK(std::string(e.what()).find("answer_rule: regular expression '([0-9]+'") != std::string::npos);
    }
}

}  // namespace test_generation_rules
