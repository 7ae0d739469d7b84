// moe/serving/openai_request.hpp: OpenAI request bodies to library requests — the prompt equals encode_chat's,
// OpenAI's defaults apply, the extensions map onto the reasoning controls — and every bad request is refused with
// the status, type, parameter and code a client can act on.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/serving/openai_request.hpp"
#include "moe/text/tokenizer.hpp"

namespace test_openai_request {

namespace {

using moe::serving::endpoint;

const moe::text::tokenizer& tokenizer() {
    static const auto tok = moe::text::tokenizer::from_file(std::string(MOE_TINY_REASONER_DIR) + "/tokenizer.json");
    return tok;
}

moe::serving::served_model served() {
    return {.id = "tiny-reasoner", .context = 128, .parallel_sequences = 4, .chat = moe::text::chat_family::qwen3,
            .stop_tokens = {*tokenizer().special_token_id("<|im_end|>")}};
}

moe::serving::parsed_request parse(const nlohmann::json& body, endpoint kind = endpoint::chat) {
    return moe::serving::parse_request(body.dump(), kind, served(), tokenizer(), /*drawn_seed=*/99);
}

nlohmann::json chat(nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json body = {{"model", "tiny-reasoner"}, {"messages", {{{"role", "user"}, {"content", "57486+68937"}}}}};
    for (auto& [k, v] : extra.items()) body[k] = v;
    return body;
}

struct refusal {
    int status;
    std::string type;
    std::string param;  // empty: null
    std::string code;   // empty: null
};

refusal refused(const std::string& text, endpoint kind = endpoint::chat) {
    try {
        (void)moe::serving::parse_request(text, kind, served(), tokenizer(), 1);
    } catch (const moe::serving::api_error& e) {
        const auto body = e.body()["error"];
        REQUIRE(body["message"].get<std::string>().size() > 10);  // says something
        return {e.status(), e.type(), body["param"].is_null() ? "" : body["param"].get<std::string>(),
                body["code"].is_null() ? "" : body["code"].get<std::string>()};
    }
    FAIL("accepted: " << text);
    return {};
}

}  // namespace

TEST_CASE("openai request: a chat request becomes the chat template's prompt with OpenAI's defaults", "[serving]") {
    const auto p = parse(chat());
    const std::vector<moe::text::chat_message> messages{{"user", "57486+68937", std::nullopt}};
    CHECK(p.core.prompt == moe::text::encode_chat(tokenizer(), moe::text::chat_family::qwen3, messages, {}));
    const auto& g = p.core.generation;
    CHECK(g.sampler.temperature == 1.0f);
    CHECK(g.sampler.top_p == 1.0f);
    CHECK(g.sampler.top_k == 0);
    CHECK(g.sampler.min_p == 0.0f);
    CHECK(g.max_tokens == 128 - int(p.core.prompt.size()));  // the context left
    CHECK(g.seed == 99);                                       // drawn: none given
    CHECK(g.branches == 1);
    CHECK(g.stop_tokens == served().stop_tokens);
    CHECK_FALSE(g.reasoning.starts_in_thinking);  // Qwen3's prompt does not open <think>
    CHECK(p.core.mode == moe::serving::request_mode::sample);
    CHECK_FALSE(p.stream);
}

TEST_CASE("openai request: parameters and extensions map onto the library's", "[serving]") {
    const auto p = parse(chat({{"temperature", 0.6}, {"top_p", 0.9}, {"top_k", 20}, {"min_p", 0.05}, {"seed", 7},
                               {"max_tokens", 50}, {"stop", {"###", "\n\n"}}, {"n", 3}, {"presence_penalty", 0.5},
                               {"frequency_penalty", -0.5}, {"logprobs", true}, {"top_logprobs", 5},
                               {"thinking_budget", 12}, {"budget_message", "\n"}, {"min_thinking_tokens", 4},
                               {"stream", true}, {"stream_options", {{"include_usage", true}}}}));
    const auto& g = p.core.generation;
    CHECK(g.sampler.temperature == 0.6f);
    CHECK(g.sampler.top_p == 0.9f);
    CHECK(g.sampler.top_k == 20);
    CHECK(g.sampler.min_p == 0.05f);
    CHECK(g.sampler.presence_penalty == 0.5f);
    CHECK(g.sampler.frequency_penalty == -0.5f);
    CHECK(g.seed == 7);
    CHECK(g.max_tokens == 50);
    CHECK(g.stop_strings == std::vector<std::string>{"###", "\n\n"});
    CHECK(g.branches == 3);
    CHECK(g.top_logprobs == 5);
    CHECK(p.logprobs);
    CHECK(g.reasoning.thinking_budget == 12);
    CHECK(g.reasoning.budget_message == "\n");
    CHECK(g.reasoning.min_thinking_tokens == 4);
    CHECK(g.reasoning.max_waits == 4);
    CHECK(p.stream);
    CHECK(p.core.stream);
    CHECK(p.include_usage);

    const auto sc = parse(chat({{"self_consistency", 4}}));
    CHECK(sc.core.mode == moe::serving::request_mode::self_consistency);
    CHECK(sc.core.generation.branches == 4);
    const auto cot = parse(chat({{"cot_decoding", 3}, {"temperature", 0.9}}));
    CHECK(cot.core.mode == moe::serving::request_mode::cot_decoding);
    CHECK(cot.core.cot_k == 3);
    CHECK(cot.core.generation.sampler.temperature <= 0.0f);  // CoT-decoding continues greedily

    // Thinking off: Qwen3's template closes an empty block in the prompt.
    const auto off = parse(chat({{"chat_template_kwargs", {{"enable_thinking", false}}}}));
    CHECK(tokenizer().decode(off.core.prompt).find("<think>\n\n</think>") != std::string::npos);
    // A system message and text parts; "developer" is the system role.
    const auto parts = parse({{"model", "tiny-reasoner"},
                              {"messages", {{{"role", "developer"}, {"content", "Add."}},
                                            {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "1+"}},
                                                                             {{"type", "text"}, {"text", "2"}}}}}}}});
    CHECK(tokenizer().decode(parts.core.prompt) == "<|im_start|>system\nAdd.<|im_end|>\n<|im_start|>user\n1+2<|im_end|>\n<|im_start|>assistant\n");
}

TEST_CASE("openai request: completions take a string or token ids", "[serving]") {
    const auto text = parse({{"model", "tiny-reasoner"}, {"prompt", "<|im_start|>1+2"}, {"logprobs", 2}},
                            endpoint::completions);
    // Typed text is text: "<|im_start|>" is not the control token.
    CHECK(std::find(text.core.prompt.begin(), text.core.prompt.end(), *tokenizer().special_token_id("<|im_start|>")) ==
          text.core.prompt.end());
    CHECK(tokenizer().decode(text.core.prompt) == "<|im_start|>1+2");
    CHECK(text.logprobs);
    CHECK(text.top_logprobs == 2);
    const auto ids = parse({{"model", "tiny-reasoner"}, {"prompt", {5, 6, 7}}}, endpoint::completions);
    CHECK(ids.core.prompt == std::vector<std::int32_t>{5, 6, 7});
}

TEST_CASE("openai request: every bad request is refused with a status, type, parameter and code", "[serving]") {
    const std::string ok_messages = R"("messages": [{"role": "user", "content": "1+2"}])";
    auto body = [&](const std::string& fields) { return "{\"model\": \"tiny-reasoner\", " + ok_messages + fields + "}"; };

    struct expectation {
        std::string text;
        endpoint kind;
        refusal want;
    };
    const std::string long_text(20000, '7');
    const std::vector<expectation> cases{
        {"{\"model\": ", endpoint::chat, {400, "invalid_request_error", "", ""}},             // malformed JSON
        {"[1, 2]", endpoint::chat, {400, "invalid_request_error", "", ""}},                   // not an object
        {"{" + ok_messages + "}", endpoint::chat, {400, "invalid_request_error", "model", ""}},  // no model
        {R"({"model": "gpt-4", )" + ok_messages + "}", endpoint::chat, {404, "not_found_error", "model", "model_not_found"}},
        {R"({"model": "tiny-reasoner"})", endpoint::chat, {400, "invalid_request_error", "messages", ""}},
        {R"({"model": "tiny-reasoner", "messages": "hi"})", endpoint::chat, {400, "invalid_request_error", "messages", ""}},
        {R"({"model": "tiny-reasoner", "messages": []})", endpoint::chat, {400, "invalid_request_error", "messages", ""}},
        {R"({"model": "tiny-reasoner", "messages": [{"role": "wizard", "content": "x"}]})", endpoint::chat,
         {400, "invalid_request_error", "messages[0].role", ""}},
        {R"({"model": "tiny-reasoner", "messages": [{"role": "user"}]})", endpoint::chat,
         {400, "invalid_request_error", "messages[0].content", ""}},
        {R"({"model": "tiny-reasoner", "messages": [{"role": "user", "content": 5}]})", endpoint::chat,
         {400, "invalid_request_error", "messages[0].content", ""}},
        {R"({"model": "tiny-reasoner", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})",
         endpoint::chat, {400, "invalid_request_error", "messages[0].content", "unsupported"}},
        {body(R"(, "temperature": "hot")"), endpoint::chat, {400, "invalid_request_error", "temperature", ""}},
        {body(R"(, "temperature": 5)"), endpoint::chat, {400, "invalid_request_error", "temperature", ""}},
        {body(R"(, "top_p": 0)"), endpoint::chat, {400, "invalid_request_error", "top_p", ""}},
        {body(R"(, "n": 0)"), endpoint::chat, {400, "invalid_request_error", "n", ""}},
        {body(R"(, "n": 100)"), endpoint::chat, {400, "invalid_request_error", "n", ""}},
        {body(R"(, "n": 1.5)"), endpoint::chat, {400, "invalid_request_error", "n", ""}},
        {body(R"(, "max_tokens": 0)"), endpoint::chat, {400, "invalid_request_error", "max_tokens", ""}},
        {body(R"(, "max_tokens": 1000)"), endpoint::chat, {400, "invalid_request_error", "max_tokens", "context_length_exceeded"}},
        {body(R"(, "seed": "x")"), endpoint::chat, {400, "invalid_request_error", "seed", ""}},
        {body(R"(, "stop": ["a", "b", "c", "d", "e"])"), endpoint::chat, {400, "invalid_request_error", "stop", ""}},
        {body(R"(, "stop": [""])"), endpoint::chat, {400, "invalid_request_error", "stop", ""}},
        {body(R"(, "stop": 3)"), endpoint::chat, {400, "invalid_request_error", "stop", ""}},
        {body(R"(, "top_logprobs": 50, "logprobs": true)"), endpoint::chat, {400, "invalid_request_error", "top_logprobs", ""}},
        {body(R"(, "top_logprobs": 3)"), endpoint::chat, {400, "invalid_request_error", "top_logprobs", ""}},
        {body(R"(, "presence_penalty": 3)"), endpoint::chat, {400, "invalid_request_error", "presence_penalty", ""}},
        {body(R"(, "stream": "yes")"), endpoint::chat, {400, "invalid_request_error", "stream", ""}},
        {body(R"(, "thinking_budget": -1)"), endpoint::chat, {400, "invalid_request_error", "thinking_budget", ""}},
        {body(R"(, "self_consistency": 3, "cot_decoding": 2)"), endpoint::chat, {400, "invalid_request_error", "cot_decoding", ""}},
        {body(R"(, "self_consistency": 3, "n": 2)"), endpoint::chat, {400, "invalid_request_error", "n", ""}},
        {body(R"(, "self_consistency": 3, "stream": true)"), endpoint::chat, {400, "invalid_request_error", "stream", "unsupported"}},
        {body(R"(, "tools": [{"type": "function", "function": {"name": "f"}}])"), endpoint::chat,
         {400, "invalid_request_error", "tools", "unsupported"}},
        {body(R"(, "response_format": {"type": "json_object"})"), endpoint::chat,
         {400, "invalid_request_error", "response_format", "unsupported"}},
        {body(R"(, "logit_bias": {"5": 10})"), endpoint::chat, {400, "invalid_request_error", "logit_bias", "unsupported"}},
        {R"({"model": "tiny-reasoner", "messages": [{"role": "user", "content": ")" + long_text + R"("}]})", endpoint::chat,
         {400, "invalid_request_error", "messages", "context_length_exceeded"}},
        {R"({"model": "tiny-reasoner"})", endpoint::completions, {400, "invalid_request_error", "prompt", ""}},
        {R"({"model": "tiny-reasoner", "prompt": 5})", endpoint::completions, {400, "invalid_request_error", "prompt", ""}},
        {R"({"model": "tiny-reasoner", "prompt": [0, 1000000000]})", endpoint::completions,
         {400, "invalid_request_error", "prompt", ""}},
        {R"({"model": "tiny-reasoner", "prompt": [0, -1]})", endpoint::completions, {400, "invalid_request_error", "prompt", ""}},
        {R"({"model": "tiny-reasoner", "prompt": ["a", "b"]})", endpoint::completions,
         {400, "invalid_request_error", "prompt", "unsupported"}},
        {R"({"model": "tiny-reasoner", "prompt": ""})", endpoint::completions, {400, "invalid_request_error", "prompt", ""}},
        {R"({"model": "tiny-reasoner", "prompt": "1+2", "echo": true})", endpoint::completions,
         {400, "invalid_request_error", "echo", "unsupported"}},
        {R"({"model": "tiny-reasoner", "prompt": "1+2", "best_of": 2})", endpoint::completions,
         {400, "invalid_request_error", "best_of", "unsupported"}},
        {R"({"model": "tiny-reasoner", "prompt": "1+2", "logprobs": 30})", endpoint::completions,
         {400, "invalid_request_error", "logprobs", ""}},
    };
    for (const auto& c : cases) {
        INFO(c.text.substr(0, 200));
        const refusal got = refused(c.text, c.kind);
        CHECK(got.status == c.want.status);
        CHECK(got.type == c.want.type);
        CHECK(got.param == c.want.param);
        CHECK(got.code == c.want.code);
    }
}

}  // namespace test_openai_request
