// Token-for-token parity with Hugging Face `tokenizers` on the recorded corpus, for every reference tokenizer
// (tests/data/tokenizers/<case>/reference.json, written by tools/make_tokenizer_reference.py).
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/text/tokenizer.hpp"

namespace test_tokenizer_parity {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

const std::string data_dir = std::string(MOE_TEST_DATA_DIR) + "/tokenizers/";

nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
}

void check_parity(const std::string& name) {
    const auto tok = moe::text::tokenizer::from_file(data_dir + name + "/tokenizer.json");
    const auto reference = read_json(data_dir + name + "/reference.json");
    CHECK(tok.vocab_size() == reference["vocab_size"].get<std::size_t>());
    std::size_t index = 0;
    for (const auto& c : reference["cases"]) {
        const std::string text = c["text"].get<std::string>();
        INFO(name << " case " << index++ << ": " << text);
        const auto ids = tok.encode(text, true);
        CHECK(ids == c["ids"].get<std::vector<std::int32_t>>());
        CHECK(tok.encode(text, false) == c["ids_no_special"].get<std::vector<std::int32_t>>());
        const auto expected = c["ids"].get<std::vector<std::int32_t>>();
        CHECK(tok.decode(expected, false) == c["decoded"].get<std::string>());
        CHECK(tok.decode(expected, true) == c["decoded_skip_special"].get<std::string>());
    }
}

}  // namespace

TEST_CASE("Qwen2/Qwen3 byte-level BPE (NFC, GPT-4-style Split, ByteLevel) matches tokenizers", "[text][parity]") {
    check_parity("qwen2");
}
TEST_CASE("DeepSeek-V3 byte-level BPE (Sequence of Splits) matches tokenizers", "[text][parity]") {
    check_parity("deepseek_v3");
}
TEST_CASE("Llama-3-style byte-level BPE (1-3 digit groups, ignore_merges) matches tokenizers", "[text][parity]") {
    check_parity("llama3_style");
}
TEST_CASE("GPT-2-style ByteLevel(use_regex, add_prefix_space) + Digits, lstrip/rstrip token matches tokenizers",
          "[text][parity]") {
    check_parity("gpt2_style");
}
TEST_CASE("Llama-2/Mixtral SentencePiece-style BPE (Prepend/Replace, byte_fallback) matches tokenizers",
          "[text][parity]") {
    check_parity("llama_sentencepiece");
}
TEST_CASE("Mistral Metaspace BPE (prepend_scheme first, byte_fallback) matches tokenizers", "[text][parity]") {
    check_parity("mistral_metaspace");
}

TEST_CASE("random strings of tricky pieces match tokenizers for every reference tokenizer", "[text][parity]") {
    const auto fuzz = read_json(data_dir + "fuzz_reference.json");
    for (const auto& [name, cases] : fuzz.items()) {
        const auto tok = moe::text::tokenizer::from_file(data_dir + name + "/tokenizer.json");
        for (const auto& c : cases) {
            INFO(name << ": " << c["text"].dump());
            const auto expected = c["ids"].get<std::vector<std::int32_t>>();
            CHECK(tok.encode(c["text"].get<std::string>()) == expected);
            CHECK(tok.decode(expected) == c["decoded"].get<std::string>());
        }
    }
}

}  // namespace test_tokenizer_parity
