// Streaming detokenization: pushing ids one at a time yields only complete UTF-8 characters, and the pieces add up
// to tokenizer::decode of the whole sequence, for every reference tokenizer and corpus string.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/text/incremental_decoder.hpp"
#include "moe/text/utf8.hpp"

namespace test_incremental_decoder {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

const std::string data_dir = std::string(MOE_TEST_DATA_DIR) + "/tokenizers/";

}  // namespace

TEST_CASE("incremental decoding equals full decoding and stops only at character boundaries", "[text][stream]") {
    for (const char* name : {"qwen2", "deepseek_v3", "llama3_style", "gpt2_style", "llama_sentencepiece",
                             "mistral_metaspace"}) {
        const auto tok = moe::text::tokenizer::from_file(data_dir + name + "/tokenizer.json");
        std::ifstream in(data_dir + name + "/reference.json");
        const auto reference = nlohmann::json::parse(in);
        for (const auto& c : reference["cases"]) {
            const auto ids = c["ids"].get<std::vector<std::int32_t>>();
            for (bool skip : {false, true}) {
                INFO(name << ": " << c["text"].get<std::string>() << " (skip special " << skip << ")");
                moe::text::incremental_decoder stream(tok, skip);
                std::string streamed;
                for (const auto id : ids) {
                    const std::string piece = stream.push(id);
                    CHECK(moe::text::utf8::is_valid(piece));
                    CHECK(moe::text::utf8::incomplete_tail(piece) == 0);
                    streamed += piece;
                }
                CHECK(stream.at_character_boundary());
                streamed += stream.flush();
                CHECK(streamed == tok.decode(ids, skip));
            }
        }
    }
}

TEST_CASE("a character split over byte-fallback tokens is held back until complete", "[text][stream]") {
    const auto tok = moe::text::tokenizer::from_file(data_dir + "llama_sentencepiece/tokenizer.json");
    const auto ids = tok.encode("😀", false);  // not in the vocab: "▁" then <0xF0><0x9F><0x98><0x80>
    REQUIRE(ids.size() == 5);
    moe::text::incremental_decoder stream(tok);
    CHECK(stream.push(ids[0]).empty());  // the leading "▁" of the first token is stripped
    for (std::size_t i = 1; i < 4; ++i) {
        CHECK(stream.push(ids[i]).empty());
        CHECK_FALSE(stream.at_character_boundary());
    }
    CHECK(stream.push(ids[4]) == "😀");
    CHECK(stream.at_character_boundary());
}

TEST_CASE("a truncated stream flushes the unfinished character as U+FFFD", "[text][stream]") {
    const auto tok = moe::text::tokenizer::from_file(data_dir + "qwen2/tokenizer.json");
    // Byte-level tokens for the first two bytes of "€" (E2 82 AC): Ģ (0xE2) and Ĥ? use the byte map directly.
    const auto first = tok.token_to_id("\xC3\xA2");  // 'â' stands for byte 0xE2
    REQUIRE(first);
    moe::text::incremental_decoder stream(tok);
    CHECK(stream.push(*first).empty());
    CHECK_FALSE(stream.at_character_boundary());
    CHECK(stream.flush() == "\xEF\xBF\xBD");
}

}  // namespace test_incremental_decoder
