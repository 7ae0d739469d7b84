// End to end on tests/data/chat_model (tools/make_chat_model.py): the real loader and tokenizer, greedy tokens
// equal to transformers' generate() one for one, seeded sampling identical with 1 and 2 threads, reasoning
// controls on a real model.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/decoding.hpp"
#include "moe/models.hpp"
#include "moe/text/tokenizer.hpp"

namespace test_chat_model_end_to_end {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

constexpr moe::qwen3_moe_config chat_card{.vocab_size = 384, .model_width = 32, .layers = 2, .heads = 4,
                                          .kv_heads = 2, .head_dim = 8, .expert_width = 32, .experts = 4,
                                          .top_k = 2, .norm_topk_prob = true, .tied_embeddings = false,
                                          .weights = moe::weight_format::fp32};
using chat_model = moe::cpu::qwen3_moe<chat_card>;

const std::string dir = std::string(MOE_TEST_DATA_DIR) + "/chat_model";

nlohmann::json reference() {
    std::ifstream in(dir + "/reference.json");
    return nlohmann::json::parse(in);
}

std::vector<std::vector<std::int32_t>> all_ids(const moe::decoding::generation_result& r) {
    std::vector<std::vector<std::int32_t>> out;
    for (const auto& b : r.branches) out.push_back(b.ids());
    return out;
}

}  // namespace

TEST_CASE("chat model: tokenizer ids and greedy tokens equal transformers'", "[decoding]") {
    const auto ref = reference();
    const auto tok = moe::text::tokenizer::from_file(dir + "/tokenizer.json");
    auto model = moe::load_model<chat_model>(dir);
    const auto prompt = tok.encode(ref["prompt"].get<std::string>(), false);
    REQUIRE(prompt == ref["prompt_ids"].get<std::vector<std::int32_t>>());
    CHECK(tok.token_to_id("<think>") == 3);
    CHECK(tok.token_to_id("</think>") == 4);

    moe::decoding::generation_options o;
    o.sampler = moe::decoding::sampler_config::greedy();
    o.max_tokens = 32;
    o.loop.max_ngram = 0;  // compare all 32 tokens
    o.branches = 3;        // three greedy branches of one shared prompt, batched: all equal the reference
    moe::cpu::thread_pool pool(2);
    const auto expected = ref["greedy_ids"].get<std::vector<std::int32_t>>();
    std::string streamed;
    const auto r = moe::decoding::generate(model, tok, prompt, o, pool,
                                           [&](std::size_t b, moe::decoding::text_stream, std::string_view t) {
                                               if (b == 0) streamed += t;
                                           });
    for (const auto& b : r.branches) CHECK(b.ids() == expected);
    // The streamed text is the tokenizer's decoding of the same tokens.
    CHECK(streamed == tok.decode(expected));
}

TEST_CASE("chat model: the same seed gives the same tokens with 1 and 2 threads", "[decoding]") {
    const auto tok = moe::text::tokenizer::from_file(dir + "/tokenizer.json");
    auto model = moe::load_model<chat_model>(dir);
    const auto prompt = tok.encode(reference()["prompt"].get<std::string>(), false);
    moe::decoding::generation_options o;
    o.sampler.temperature = 1.0f;
    o.sampler.repeat_penalty = 1.1f;
    o.branches = 4;
    o.max_tokens = 24;
    o.seed = 2024;
    moe::cpu::thread_pool one(1), two(2);
    const auto a = all_ids(moe::decoding::generate(model, tok, prompt, o, one));
    const auto b = all_ids(moe::decoding::generate(model, tok, prompt, o, two));
    CHECK(a == b);
    CHECK(a[0] != a[1]);  // branches really sample differently
    o.seed = 2025;
    CHECK(all_ids(moe::decoding::generate(model, tok, prompt, o, one)) != a);
}

TEST_CASE("chat model: thinking budget on a real model forces </think> and separates the streams", "[decoding]") {
    const auto tok = moe::text::tokenizer::from_file(dir + "/tokenizer.json");
    auto model = moe::load_model<chat_model>(dir);
    const auto prompt = tok.encode(reference()["prompt"].get<std::string>(), false);  // ends inside <think>
    moe::decoding::generation_options o;
    o.sampler = moe::decoding::sampler_config::greedy();
    o.max_tokens = 20;
    o.loop.max_ngram = 0;
    o.reasoning.starts_in_thinking = true;
    o.reasoning.thinking_budget = 6;
    o.reasoning.budget_message = "\nOkay";
    moe::cpu::thread_pool pool(2);
    std::string reasoning, answer;
    const auto r = moe::decoding::generate(model, tok, prompt, o, pool,
                                           [&](std::size_t, moe::decoding::text_stream s, std::string_view t) {
                                               (s == moe::decoding::text_stream::reasoning ? reasoning : answer) += t;
                                           });
    const auto& b = r.branches[0];
    CHECK(b.budget_forced);
    CHECK(b.thinking_tokens >= 6);
    CHECK(b.thinking_tokens <= 10);  // at most 4 more to finish a character
    const auto ids = b.ids();
    const auto close = std::find(ids.begin(), ids.end(), 4);
    REQUIRE(close != ids.end());
    CHECK(b.tokens[std::size_t(close - ids.begin())].forced);
    CHECK(reasoning == b.reasoning);
    CHECK(answer == b.answer);
    CHECK(b.reasoning.ends_with("\nOkay"));
    CHECK(!b.answer.empty());
    CHECK(b.tokens.size() == 20);
}

}  // namespace test_chat_model_end_to_end
