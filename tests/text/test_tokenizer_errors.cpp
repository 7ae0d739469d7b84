// Bad or unsupported tokenizer.json files fail with a tokenizer_error naming the file and the problem.
#include <catch2/catch.hpp>

#include <string>

#include "moe/text/tokenizer.hpp"

namespace test_tokenizer_errors {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using moe::text::tokenizer;
using moe::text::tokenizer_error;

namespace {

const std::string minimal_model = R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";

}  // namespace

TEST_CASE("a minimal tokenizer.json works", "[text][errors]") {
    const auto tok = tokenizer::from_json("{" + minimal_model + "}");
    CHECK(tok.encode("abab") == std::vector<std::int32_t>{2, 2});
    CHECK(tok.encode("abc") == std::vector<std::int32_t>{2});  // no unk token: unknown characters are dropped
    CHECK(tok.decode(std::vector<std::int32_t>{2, 0, 99}) == "ab a");  // no decoder: joined by spaces; 99 skipped
    CHECK(tok.vocab_size() == 3);
    CHECK(tok.id_to_token(1) == "b");
    CHECK_FALSE(tok.id_to_token(7));
}

TEST_CASE("errors name the file and the problem", "[text][errors]") {
    CHECK_THROWS_WITH(tokenizer::from_file("/nonexistent/tokenizer.json"),
                      Catch::Contains("/nonexistent/tokenizer.json") && Catch::Contains("cannot open"));
    CHECK_THROWS_WITH(tokenizer::from_json("{", "t.json"), Catch::StartsWith("t.json: invalid JSON"));
    CHECK_THROWS_WITH(tokenizer::from_json("{}", "t.json"), Catch::Contains("missing field 'model'"));
    CHECK_THROWS_WITH(tokenizer::from_json(R"({"model": {"type": "Unigram", "vocab": []}})", "t.json"),
                      Catch::Contains("unsupported model type 'Unigram'"));
    CHECK_THROWS_WITH(
        tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})", "t.json"),
        Catch::Contains("merge #0") && Catch::Contains("missing from the vocab"));
    CHECK_THROWS_WITH(tokenizer::from_json("{" + minimal_model + R"(, "normalizer": {"type": "NFKC"}})", "t.json"),
                      Catch::Contains("t.json: normalizer") && Catch::Contains("unsupported normalizer type 'NFKC'"));
    CHECK_THROWS_WITH(
        tokenizer::from_json("{" + minimal_model +
                                 R"(, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split",
                                 "pattern": {"Regex": "\\w+"}, "behavior": "Isolated"}]}})",
                             "t.json"),
        Catch::Contains("\\w"));
    CHECK_THROWS_WITH(tokenizer::from_json("{" + minimal_model + R"(, "decoder": {"type": "WordPiece"}})", "t.json"),
                      Catch::Contains("unsupported decoder type 'WordPiece'"));
    CHECK_THROWS_WITH(tokenizer::from_json("{" + minimal_model + R"(, "added_tokens": [{"id": 5}]})", "t.json"),
                      Catch::Contains("added_tokens[0]") && Catch::Contains("'content'"));
}

TEST_CASE("invalid UTF-8 input is encoded as U+FFFD, never a crash", "[text][errors]") {
    const auto tok = tokenizer::from_file(std::string(MOE_TEST_DATA_DIR) + "/tokenizers/qwen2/tokenizer.json");
    CHECK(tok.encode("a\xFF" "b") == tok.encode("a\xEF\xBF\xBD" "b"));
    CHECK(tok.decode(tok.encode("\xC0\xAF")) == "\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace test_tokenizer_errors
