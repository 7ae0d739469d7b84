// models/tiny-reasoner through the ordinary checkpoint path: moe::load_model<moe::cpu::tiny_reasoner>, logits against
// transformers' (tools/train_tiny_reasoner.py export → reference.safetensors) within 1e-4 · max |logit|, the C++
// tokenizer and chat template against the recorded token ids, and greedy decoding against HF generate's tokens,
// with and without thinking — then the ledger of that request.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "moe/io.hpp"
#include "moe/ledger.hpp"
#include "moe/models.hpp"
#include "moe/models/tiny_reasoner.hpp"
#include "moe/text.hpp"

namespace test_tiny_reasoner_loads {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

const std::string dir = MOE_TINY_REASONER_DIR;
using model_type = moe::cpu::tiny_reasoner;
constexpr std::int32_t im_end = 2;

std::vector<std::int32_t> ids_of(const moe::io::safetensors_file& file, const std::string& name) {
    const auto v = moe::io::read_integers(file.require(name));
    return {v.begin(), v.end()};
}

double max_abs(moe::matrix_view<const float> m) {
    double v = 0;
    for (float f : m.span()) v = std::max(v, double(std::abs(f)));
    return v;
}

double max_abs_diff(moe::matrix_view<const float> a, moe::matrix_view<const float> b) {
    REQUIRE(a.rows == b.rows);
    REQUIRE(a.cols == b.cols);
    double v = 0;
    for (std::int64_t i = 0; i < a.size(); ++i) v = std::max(v, double(std::abs(a.data[i] - b.data[i])));
    return v;
}

std::int32_t argmax(const float* row, std::int64_t n) {
    return std::int32_t(std::max_element(row, row + n) - row);
}

}  // namespace

TEST_CASE("tiny-reasoner: loads through load_model and matches transformers' logits") {
    auto model = moe::load_model<model_type>(dir);
    const moe::io::safetensors_file ref(dir + "/reference.safetensors");
    const auto tokens = ids_of(ref, "tokens");
    const auto expected = moe::io::copy_matrix<float>(ref.require("logits"));
    REQUIRE(expected.cols() == model_type::V);
    REQUIRE(expected.rows() == std::int64_t(tokens.size()));
    moe::cpu::thread_pool pool(2);
    const double bound = 1e-4 * max_abs(expected.view());

    auto seq = model.new_sequence(128);
    moe::host_matrix<float> logits(std::int64_t(tokens.size()), model_type::V);
    model.forward(tokens, seq, logits.view(), pool);
    const double error = max_abs_diff(logits.view(), expected.view());
    INFO("prefill: max error " << error << ", bound " << bound);
    CHECK(error <= bound);

    // Token by token through the KV cache.
    auto stepped_seq = model.new_sequence(128);
    moe::host_matrix<float> stepped(std::int64_t(tokens.size()), model_type::V);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        model.forward(std::span<const std::int32_t>(&tokens[i], 1), stepped_seq,
                      moe::matrix_view<float>{stepped.row(std::int64_t(i)), 1, model_type::V}, pool);
    }
    const double step_error = max_abs_diff(stepped.view(), expected.view());
    INFO("token by token: max error " << step_error << ", bound " << bound);
    CHECK(step_error <= bound);
}

TEST_CASE("tiny-reasoner: the C++ tokenizer and qwen3 chat template give transformers' token ids") {
    const auto tok = moe::text::tokenizer::from_file(dir + "/tokenizer.json");
    const moe::io::safetensors_file ref(dir + "/reference.safetensors");
    const std::string prompt = ref.metadata().at("prompt");
    const std::string question = ref.metadata().at("question");
    CHECK(tok.encode(prompt, false) == ids_of(ref, "tokens"));

    const std::vector<moe::text::chat_message> chat{{.role = "user", .content = question, .reasoning_content = std::nullopt}};
    for (bool thinking : {true, false}) {
        const std::string text = moe::text::apply_chat_template(
            moe::text::chat_family::qwen3, chat, {.add_generation_prompt = true, .enable_thinking = thinking});
        CHECK(tok.encode(text, false) == ids_of(ref, thinking ? "prompt_thinking" : "prompt_no_thinking"));
    }
}

TEST_CASE("tiny-reasoner: greedy decoding equals HF generate, with and without thinking; the request's ledger") {
    auto model = moe::load_model<model_type>(dir);
    const auto tok = moe::text::tokenizer::from_file(dir + "/tokenizer.json");
    const moe::io::safetensors_file ref(dir + "/reference.safetensors");
    moe::cpu::thread_pool pool(2);

    for (bool thinking : {true, false}) {
        const std::string name = thinking ? "thinking" : "no_thinking";
        const auto prompt = ids_of(ref, "prompt_" + name);
        const auto expected = ids_of(ref, "greedy_" + name);
        moe::ledger::tracker ledger(moe::ledger::cost_of<model_type>());

        auto seq = model.new_sequence(128);
        moe::host_matrix<float> logits(1, model_type::V);
        ledger.begin(moe::ledger::phase::prompt);
        model.forward(prompt, seq, logits.view(), pool);
        ledger.forward(std::int64_t(prompt.size()), 0);
        ledger.begin(thinking ? moe::ledger::phase::thinking : moe::ledger::phase::answer);
        std::vector<std::int32_t> generated;
        while (generated.size() < 80) {
            const std::int32_t next = argmax(logits.data(), model_type::V);
            generated.push_back(next);
            if (next == im_end) break;
            if (next == 4) ledger.begin(moe::ledger::phase::answer);  // </think>: the answer follows
            const std::int64_t context = seq.size();
            model.forward(std::span<const std::int32_t>(&generated.back(), 1), seq, logits.view(), pool);
            ledger.forward(1, context);
        }
        INFO(name << ": " << tok.decode(generated, false));
        CHECK(generated == expected);

        const auto r = ledger.finish();
        CHECK(r.prompt.tokens == std::int64_t(prompt.size()));
        CHECK(r.prompt.tokens + r.thinking.tokens + r.answer.tokens ==
              std::int64_t(prompt.size() + generated.size()) - 1);  // the final <|im_end|> is never fed back
        CHECK((r.thinking.tokens > 0) == thinking);
        CHECK(r.total().cost.dense_flops > r.total().cost.flops);  // 2 of 8 experts per token
        UNSCOPED_INFO(nlohmann::json(r).dump());
    }
}

}  // namespace test_tiny_reasoner_loads
