// The Unicode building blocks: UTF-8 with Rust-compatible invalid-byte handling, NFC against Python's unicodedata,
// general categories, and the Oniguruma-subset regex used by Split pre-tokenizers.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "moe/text/regex.hpp"
#include "moe/text/unicode.hpp"
#include "moe/text/utf8.hpp"

namespace test_text_unicode {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace utf8 = moe::text::utf8;
namespace unicode = moe::text::unicode;

TEST_CASE("UTF-8 round trip and lossy decoding like String::from_utf8_lossy", "[text][unicode]") {
    const std::string text = "aß€😀";
    CHECK(utf8::encode(utf8::decode_all(text)) == text);
    CHECK(utf8::is_valid(text));
    // One U+FFFD per maximal invalid subsequence.
    CHECK(utf8::lossy("a\xFF" "b") == "a\xEF\xBF\xBD" "b");
    CHECK(utf8::lossy("\xE2\x82" "x") == "\xEF\xBF\xBD" "x");          // truncated 3-byte sequence: one
    CHECK(utf8::lossy("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");       // overlong: two
    CHECK(utf8::lossy("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: three
    CHECK(utf8::lossy("\xF4\x90\x80\x80").size() == 12);                // above U+10FFFF: four
    CHECK(utf8::incomplete_tail("ab\xE2\x82") == 2);
    CHECK(utf8::incomplete_tail("ab\xF0") == 1);
    CHECK(utf8::incomplete_tail("ab€") == 0);
    CHECK(utf8::incomplete_tail("ab\xFF") == 0);  // invalid, not incomplete
}

TEST_CASE("NFC matches Python's unicodedata", "[text][unicode]") {
    std::ifstream in(std::string(MOE_TEST_DATA_DIR) + "/tokenizers/nfc_reference.json");
    REQUIRE(in.good());
    const auto reference = nlohmann::json::parse(in);
    for (const auto& c : reference["cases"]) {
        INFO(c["text"].get<std::string>());
        CHECK(unicode::nfc(c["text"].get<std::string>()) == c["nfc"].get<std::string>());
    }
}

TEST_CASE("general categories", "[text][unicode]") {
    CHECK(unicode::is_letter(U'a'));
    CHECK(unicode::is_letter(U'中'));
    CHECK(unicode::is_letter(U'ß'));
    CHECK_FALSE(unicode::is_letter(U'1'));
    CHECK(unicode::is_number(U'٣'));  // Arabic-Indic digit three
    CHECK(unicode::is_number(U'½'));
    CHECK(unicode::is_mark(0x0301));
    CHECK(unicode::is_punctuation(U'。'));
    CHECK(unicode::is_symbol(U'€'));
    CHECK(unicode::is_whitespace(0x3000));
    CHECK_FALSE(unicode::is_whitespace(0x200B));  // zero width space is not White_Space
}

namespace {

std::vector<std::string> split(const moe::text::regex& re, const std::string& text) {
    const auto cps = utf8::decode_all(text);
    std::vector<std::string> out;
    for (const auto& m : re.find_all(cps)) out.push_back(utf8::encode(std::u32string_view(cps).substr(m.begin, m.end - m.begin)));
    return out;
}

}  // namespace

TEST_CASE("regex: the GPT-4 / Qwen2 pattern", "[text][regex]") {
    const moe::text::regex re(R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)");
    CHECK(split(re, "Hello world") == std::vector<std::string>{"Hello", " world"});
    CHECK(split(re, "IT'S 42!") == std::vector<std::string>{"IT", "'S", " ", "4", "2", "!"});
    CHECK(split(re, "a   b\n\n c") == std::vector<std::string>{"a", "  ", " b", "\n\n", " c"});
}

TEST_CASE("regex: unsupported constructs are reported, not mis-matched", "[text][regex]") {
    CHECK_THROWS_WITH(moe::text::regex(R"(\d+)"), Catch::Contains("unsupported escape '\\d'"));
    CHECK_THROWS_WITH(moe::text::regex(R"(\p{Lu})"), Catch::Contains("\\p{Lu}"));
    CHECK_THROWS_WITH(moe::text::regex("a+?"), Catch::Contains("lazy"));
    CHECK_THROWS_WITH(moe::text::regex("(ab"), Catch::Contains("missing ')'"));
    CHECK_THROWS_AS(moe::text::regex("[abc"), moe::text::tokenizer_error);
}

}  // namespace test_text_unicode
