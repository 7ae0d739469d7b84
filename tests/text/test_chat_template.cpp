// The hand-written chat templates render exactly what transformers' apply_chat_template renders from the families'
// Jinja templates (tests/data/tokenizers/chat_reference.json), and their output tokenizes as the model expects.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/text/chat_template.hpp"
#include "moe/text/tokenizer.hpp"

namespace test_chat_template {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using moe::text::chat_family;
using moe::text::chat_message;
using moe::text::chat_options;

namespace {

const std::string data_dir = std::string(MOE_TEST_DATA_DIR) + "/tokenizers/";

chat_family family_of(const std::string& name) {
    if (name == "qwen3") return chat_family::qwen3;
    if (name == "deepseek_r1") return chat_family::deepseek_r1;
    return chat_family::mistral;
}

}  // namespace

TEST_CASE("chat templates match transformers.apply_chat_template", "[text][chat]") {
    std::ifstream in(data_dir + "chat_reference.json");
    REQUIRE(in.good());
    const auto reference = nlohmann::json::parse(in);
    std::size_t checked = 0;
    for (const auto& c : reference["cases"]) {
        std::vector<chat_message> messages;
        for (const auto& m : c["messages"])
            messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>(), std::nullopt});
        chat_options options;
        options.add_generation_prompt = c["add_generation_prompt"].get<bool>();
        options.enable_thinking = c["enable_thinking"].get<bool>();
        const auto family = family_of(c["family"].get<std::string>());
        INFO(c["family"].get<std::string>() << " case " << checked << " (generation prompt "
                                            << options.add_generation_prompt << ", thinking "
                                            << options.enable_thinking << ")");
        if (c["text"].is_null()) {
            CHECK_THROWS_AS(moe::text::apply_chat_template(family, messages, options), moe::text::tokenizer_error);
        } else {
            CHECK(moe::text::apply_chat_template(family, messages, options) == c["text"].get<std::string>());
        }
        ++checked;
    }
    CHECK(checked == reference["cases"].size());
}

TEST_CASE("Qwen3 reasoning_content replaces a <think> block in content", "[text][chat]") {
    const std::vector<chat_message> with_block{{"user", "q", {}}, {"assistant", "<think>\nr\n</think>\n\na", {}}};
    const std::vector<chat_message> with_field{{"user", "q", {}}, {"assistant", "a", std::string("r")}};
    const chat_options options{false, true};
    CHECK(moe::text::apply_chat_template(chat_family::qwen3, with_block, options) ==
          moe::text::apply_chat_template(chat_family::qwen3, with_field, options));
}

TEST_CASE("rendered prompts tokenize their delimiters as single special tokens", "[text][chat]") {
    const auto tok = moe::text::tokenizer::from_file(data_dir + "qwen2/tokenizer.json");
    const std::vector<chat_message> messages{{"user", "Hi", {}}};
    const auto ids = tok.encode(moe::text::apply_chat_template(chat_family::qwen3, messages, {true, false}), false);
    const auto im_start = tok.special_token_id("<|im_start|>");
    const auto think = tok.token_to_id("<think>");
    REQUIRE(im_start);
    REQUIRE(think);
    CHECK(ids.front() == *im_start);
    CHECK(std::count(ids.begin(), ids.end(), *think) == 1);
    CHECK_FALSE(tok.special_token_id("<think>"));  // added but not special: survives skip_special_tokens
}

TEST_CASE("generation prompt state and errors", "[text][chat]") {
    CHECK(moe::text::generation_starts_in_thinking(chat_family::deepseek_r1));
    CHECK_FALSE(moe::text::generation_starts_in_thinking(chat_family::qwen3));
    CHECK_THROWS_WITH(moe::text::apply_chat_template(chat_family::qwen3, std::vector<chat_message>{}),
                      Catch::Contains("empty"));
    CHECK_THROWS_WITH(
        moe::text::apply_chat_template(chat_family::qwen3, std::vector<chat_message>{{"tool", "x", {}}}),
        Catch::Contains("unsupported role 'tool'"));
}

}  // namespace test_chat_template
