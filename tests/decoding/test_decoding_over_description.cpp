// Generation, the thinking budget, s1, self-consistency, CoT-decoding and the ledger over a model built from a
// backend-free description: moe::qwen3_moe<moe::tiny_reasoner> → load_weights (views) → moe::cpu::model. The
// decoding and ledger code only see the language_model concept; each rule is checked against a plain loop over
// model.forward written here, or against the request's own records.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "moe/decoding.hpp"
#include "moe/io.hpp"
#include "moe/ledger.hpp"
#include "moe/models.hpp"
#include "moe/text.hpp"

namespace test_decoding_over_description {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using description = moe::qwen3_moe<moe::tiny_reasoner>;  // names no backend
using model_type = moe::cpu::model<description>;          // the CPU executes it

static_assert(moe::model::description<description>);
static_assert(std::is_same_v<moe::model::description_of<model_type>, description>);
static_assert(std::is_same_v<model_type, moe::cpu::tiny_reasoner>);
static_assert(moe::decoding::language_model<model_type>);
static_assert(moe::decoding::language_model<moe::ledger::metered_model<model_type>>);

const std::string dir = MOE_TINY_REASONER_DIR;
constexpr std::int32_t im_end = 2, think_open = 3, think_close = 4;  // models/tiny-reasoner/tokenizer.json

std::vector<std::int32_t> prompt_ids(const moe::text::tokenizer& tok, const std::string& question) {
    const std::vector<moe::text::chat_message> chat{{.role = "user", .content = question, .reasoning_content = std::nullopt}};
    return tok.encode(moe::text::apply_chat_template(moe::text::chat_family::qwen3, chat,
                                                     {.add_generation_prompt = true, .enable_thinking = true}),
                      false);
}

moe::decoding::generation_options greedy(int max_tokens) {
    moe::decoding::generation_options o;
    o.sampler = moe::decoding::sampler_config::greedy();
    o.max_tokens = max_tokens;
    o.stop_tokens = {im_end};
    return o;
}

// The reference: argmax after argmax through model.forward, stopping after im_end or max_tokens.
std::vector<std::int32_t> argmax_loop(model_type& model, std::span<const std::int32_t> prompt, int max_tokens,
                                      moe::thread_pool& pool) {
    auto seq = model.new_sequence(model.max_positions());
    moe::host_matrix<float> logits(1, model_type::V);
    model.forward(prompt, seq, logits.view(), pool);
    std::vector<std::int32_t> out;
    while (static_cast<int>(out.size()) < max_tokens) {
        const auto next = std::int32_t(std::max_element(logits.data(), logits.data() + model_type::V) - logits.data());
        out.push_back(next);
        if (next == im_end) break;
        model.forward(std::span<const std::int32_t>(&out.back(), 1), seq, logits.view(), pool);
    }
    return out;
}

int count_of(const std::vector<std::int32_t>& ids, std::int32_t id) { return int(std::count(ids.begin(), ids.end(), id)); }

}  // namespace

TEST_CASE("a model from a description: weights are backend-free views, the CPU model is built from them") {
    const auto weights = moe::load_weights<description>(dir);
    CHECK(std::get<0>(weights.layers).size() == std::size_t(moe::tiny_reasoner.layers));
    CHECK(weights.embedding.rows == moe::tiny_reasoner.vocab_size);
    CHECK(weights.keep_alive != nullptr);
    model_type model(weights);
    CHECK(model.max_positions() == weights.max_positions);
    CHECK(model_type::parameters() == description::parameters());
    // A stack given the wrong number of layers is refused by name.
    auto short_weights = weights;
    std::get<0>(short_weights.layers).pop_back();
    CHECK_THROWS_AS(model_type(short_weights), moe::shape_error);
}

TEST_CASE("one sequence given twice in a call is refused before anything changes") {
    model_type model = moe::load_model<model_type>(dir);
    moe::thread_pool pool(1);
    auto seq = model.new_sequence(16);
    const std::vector<std::int32_t> first{1, 2, 3}, second{4};
    moe::host_matrix<float> a(1, model_type::V), b(1, model_type::V);
    const model_type::step steps[] = {{first, &seq, a.view()}, {second, &seq, b.view()}};
    CHECK_THROWS_AS(model.forward(std::span<const model_type::step>(steps), pool), moe::invalid_argument);
    CHECK_THROWS_WITH(model.forward(std::span<const model_type::step>(steps), pool),
                      Catch::Contains("sequences 0 and 1 of the call are the same sequence"));
    CHECK(seq.size() == 0);
    // The sequence is still usable, and gives the same logits as a fresh one.
    model.forward(first, seq, a.view(), pool);
    auto fresh = model.new_sequence(16);
    model.forward(first, fresh, b.view(), pool);
    CHECK(seq.size() == 3);
    for (std::int64_t v = 0; v < model_type::V; ++v) REQUIRE(a(0, v) == b(0, v));
}

TEST_CASE("generation and the reasoning controls run over the description's CPU model") {
    model_type model = moe::load_model<model_type>(dir);
    const auto tok = moe::text::tokenizer::from_file(dir + "/tokenizer.json");
    moe::thread_pool pool(2);
    const auto prompt = prompt_ids(tok, "48213+39071");

    const auto reference = argmax_loop(model, prompt, 90, pool);
    REQUIRE(reference.back() == im_end);
    REQUIRE(count_of(reference, think_close) == 1);
    const int natural_thinking =
        int(std::find(reference.begin(), reference.end(), think_close) - reference.begin()) - 1;  // after <think>
    REQUIRE(natural_thinking > 8);

    SECTION("greedy generate equals the argmax loop") {
        const auto r = moe::decoding::generate(model, tok, prompt, greedy(90), pool);
        REQUIRE(r.branches.size() == 1);
        CHECK(r.branches[0].ids() == reference);
        CHECK(r.branches[0].finish == moe::decoding::finish_reason::stop_token);
        CHECK(r.prompt_tokens == std::int64_t(prompt.size()));
    }
    SECTION("a thinking budget closes the block after that many thinking tokens") {
        auto o = greedy(90);
        o.reasoning.thinking_budget = 5;
        const auto r = moe::decoding::generate(model, tok, prompt, o, pool);
        const auto& b = r.branches[0];
        CHECK(b.budget_forced);
        CHECK(b.thinking_tokens == 5);
        const auto ids = b.ids();
        REQUIRE(ids.size() > 7);
        CHECK(ids[0] == think_open);
        CHECK(ids[6] == think_close);
        CHECK(b.tokens[6].forced);
        // The same first thinking tokens as unconstrained greedy decoding.
        CHECK(std::equal(ids.begin(), ids.begin() + 6, reference.begin()));
    }
    SECTION("s1: the end of thinking is suppressed until the minimum, with one Wait") {
        auto o = greedy(100);
        o.reasoning.min_thinking_tokens = natural_thinking + 4;
        o.reasoning.max_waits = 1;
        const auto r = moe::decoding::generate(model, tok, prompt, o, pool);
        const auto& b = r.branches[0];
        CHECK(b.waits == 1);
        CHECK(b.thinking_tokens > natural_thinking);
        // Up to the point where </think> would have come, the branch is the greedy one.
        const auto ids = b.ids();
        REQUIRE(int(ids.size()) > natural_thinking + 1);
        CHECK(std::equal(ids.begin(), ids.begin() + natural_thinking + 1, reference.begin()));
        CHECK(ids[std::size_t(natural_thinking) + 1] != think_close);
    }
    SECTION("self-consistency: the answer is the most frequent path answer") {
        moe::decoding::self_consistency_options o;
        o.generation = greedy(90);
        o.generation.sampler = moe::decoding::sampler_config{};
        o.generation.sampler.temperature = 0.8f;
        o.generation.branches = 5;
        o.generation.seed = 7;
        const auto r = moe::decoding::self_consistency(model, tok, prompt, o, pool);
        REQUIRE(r.path_answers.size() == 5);
        std::map<std::string, int> counts;
        for (const auto& a : r.path_answers)
            if (a) ++counts[a->value];
        REQUIRE(!counts.empty());
        int best = 0;
        for (const auto& [answer, n] : counts) best = std::max(best, n);
        REQUIRE(r.answer.has_value());
        CHECK(counts[*r.answer] == best);
        // Same seed, same paths.
        const auto again = moe::decoding::self_consistency(model, tok, prompt, o, pool);
        for (std::size_t b = 0; b < 5; ++b) CHECK(again.generation.branches[b].ids() == r.generation.branches[b].ids());
    }
    SECTION("CoT-decoding: branches start from the top-k first tokens; the chosen path has the largest margin") {
        moe::decoding::cot_options o;
        o.k = 3;
        o.max_tokens = 90;
        o.stop_tokens = {im_end};
        const auto r = moe::decoding::cot_decoding(model, tok, prompt, o, pool);
        REQUIRE(r.branches.size() == 3);
        CHECK(r.branches[0].first_token == reference[0]);  // the argmax first token leads
        REQUIRE(r.max_path_branch.has_value());
        for (const auto& b : r.branches) CHECK(b.delta <= r.branches[*r.max_path_branch].delta);
    }
}

TEST_CASE("the ledger prices a request over the description's model from the description alone") {
    model_type model = moe::load_model<model_type>(dir);
    const auto tok = moe::text::tokenizer::from_file(dir + "/tokenizer.json");
    moe::thread_pool pool(1);
    const auto prompt = prompt_ids(tok, "12345+67890");
    const auto cost = moe::ledger::cost_of<description>();
    CHECK(cost == moe::ledger::cost_of<model_type>());

    moe::ledger::tracker t(cost);
    moe::ledger::metered_model metered(model, t, think_open, think_close, moe::ledger::phase::answer);
    const auto r = moe::decoding::generate(metered, tok, prompt, greedy(80), pool);
    const auto ledger = t.finish();
    const auto ids = r.branches[0].ids();

    // The plain account: a prefill of the prompt, then one call per generated token but the last.
    moe::ledger::call_cost expected = cost.forward(std::int64_t(prompt.size()), 0);
    for (std::size_t i = 0; i + 1 < ids.size(); ++i) expected += cost.forward(1, std::int64_t(prompt.size() + i));
    const auto total = ledger.total();
    CHECK(total.tokens == std::int64_t(prompt.size() + ids.size() - 1));
    CHECK(total.calls == std::int64_t(ids.size()));
    CHECK(total.cost.flops == Approx(expected.flops).epsilon(1e-12));
    CHECK(total.cost.bytes == Approx(expected.bytes).epsilon(1e-12));
    CHECK(ledger[moe::ledger::phase::prompt].tokens == std::int64_t(prompt.size()));
    CHECK(ledger[moe::ledger::phase::thinking].tokens > 0);
    CHECK(ledger[moe::ledger::phase::answer].tokens > 0);
}

}  // namespace test_decoding_over_description
