// The tokenizer and chat template read from a GGUF file's metadata equal the model's tokenizer.json: the GGUFs of
// tests/data/gguf_tokenizers/ were written by llama.cpp's converter (tools/make_gguf_tokenizer_reference.py) from
// the tokenizer.json files of tests/data/tokenizers/, and every id and decoded string is checked against what
// Hugging Face `tokenizers` recorded for those files. Bad metadata fails with a message naming the key.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/io/gguf_file.hpp"
#include "moe/text/encode_chat.hpp"
#include "moe/models/gguf/tokenizer.hpp"
#include "moe/text/regex.hpp"
#include "moe/text/tokenizer.hpp"

namespace test_gguf_tokenizer {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using Catch::Matchers::Contains;
using moe::text::chat_family;

namespace {

const std::string data_dir = std::string(MOE_TEST_DATA_DIR) + "/";

nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
}

moe::text::tokenizer gguf_tokenizer(const std::string& name) {
    const moe::io::gguf_file file(data_dir + "gguf_tokenizers/" + name + ".gguf");
    return moe::text::tokenizer_from_gguf(file);
}

using ids_t = std::vector<std::int32_t>;

// `reference`: a reference.json of `tokenizers` ids for the corpus; `fuzz`: random strings and their ids.
void check_against(const moe::text::tokenizer& tok, const nlohmann::json& reference, const nlohmann::json& fuzz) {
    std::size_t index = 0;
    for (const auto& c : reference["cases"]) {
        const std::string text = c["text"].get<std::string>();
        INFO("corpus case " << index++ << ": " << text);
        const auto expected = c["ids"].get<ids_t>();
        CHECK(tok.encode(text, true) == expected);
        CHECK(tok.encode(text, false) == c["ids_no_special"].get<ids_t>());
        CHECK(tok.decode(expected, false) == c["decoded"].get<std::string>());
        CHECK(tok.decode(expected, true) == c["decoded_skip_special"].get<std::string>());
    }
    CHECK(index >= 30);
    index = 0;
    for (const auto& c : fuzz) {
        INFO("fuzz string " << index++ << ": " << c["text"].dump());
        const auto expected = c["ids"].get<ids_t>();
        CHECK(tok.encode(c["text"].get<std::string>(), !reference.contains("fuzz")) == expected);
        CHECK(tok.decode(expected) == c["decoded"].get<std::string>());
    }
    CHECK(index >= 100);
}

// The GGUF tokenizer of `name` against `tokenizers`' records for tests/data/tokenizers/<name>/tokenizer.json, and
// token for token against that tokenizer.json loaded by moe.
void check_model(const std::string& name) {
    const auto tok = gguf_tokenizer(name);
    const auto reference = read_json(data_dir + "tokenizers/" + name + "/reference.json");
    const auto fuzz = read_json(data_dir + "tokenizers/fuzz_reference.json");
    check_against(tok, reference, fuzz[name]);

    const auto json_tok = moe::text::tokenizer::from_file(data_dir + "tokenizers/" + name + "/tokenizer.json");
    CHECK(tok.vocab_size() == reference["vocab_size"].get<std::size_t>());
    for (std::int32_t id = 0; id < static_cast<std::int32_t>(json_tok.vocab_size()); ++id) {
        INFO("id " << id);
        REQUIRE(tok.id_to_token(id) == json_tok.id_to_token(id));
        CHECK(tok.token_to_id(*tok.id_to_token(id)) == id);
        CHECK(tok.is_special(id) == json_tok.is_special(id));
    }
}

}  // namespace

TEST_CASE("Qwen2/Qwen3 GGUF tokenizer (pre 'qwen2') equals its tokenizer.json", "[text][gguf]") {
    check_model("qwen2");
    const auto tok = gguf_tokenizer("qwen2");
    CHECK(tok.special_token_id("<|im_end|>") == 2);
    CHECK(tok.eos_token() == "<|im_end|>");                      // tokenizer.ggml.eos_token_id
    CHECK_FALSE(tok.bos_token().has_value());                    // Qwen has none
    CHECK(tok.encode("<think>", true) == ids_t{1570});            // user-defined token: matched, not special
    CHECK_FALSE(tok.is_special(1570));
    // NFC, as Qwen's tokenizer.json normalizes (llama.cpp does not): decomposed "é" encodes as the composed one.
    CHECK(tok.encode("caf\x65\xCC\x81") == tok.encode("caf\xC3\xA9"));
}

TEST_CASE("DeepSeek-V3 GGUF tokenizer (pre 'deepseek-v3', add_bos_token) equals its tokenizer.json", "[text][gguf]") {
    check_model("deepseek_v3");
    const auto tok = gguf_tokenizer("deepseek_v3");
    CHECK(tok.encode("hi", true).front() == 0);                  // BOS from add_bos_token
    CHECK(tok.encode("hi", false).front() != 0);
    CHECK(tok.bos_token() == "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");
    CHECK(tok.eos_token() == "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");
}

TEST_CASE("Llama-3 GGUF tokenizer (pre 'llama-bpe', ignore_merges) equals its tokenizer.json", "[text][gguf]") {
    check_model("llama3_style");
    const auto tok = gguf_tokenizer("llama3_style");
    CHECK(tok.bos_token() == "<|begin_of_text|>");
    CHECK(tok.encode("x", true).front() == 0);
}

TEST_CASE("GPT-2 GGUF tokenizer (pre 'gpt-2') equals tokenizers with GPT-2's pre-tokenizer", "[text][gguf]") {
    const auto tok = gguf_tokenizer("gpt2");
    const auto reference = read_json(data_dir + "gguf_tokenizers/gpt2/reference.json");
    check_against(tok, reference, reference["fuzz"]);
    CHECK(tok.encode("a<|sep|>b", false).size() == 3);          // control token matched in the text
    CHECK(tok.encode("a<|sep|>b", true) == tok.encode("a<|sep|>b", false));  // no add_bos_token: nothing added
}

TEST_CASE("the GGUF chat template is recognised and renders the same prompt", "[text][gguf][chat]") {
    const auto reference = read_json(data_dir + "tokenizers/chat_reference.json");
    const std::vector<std::pair<std::string, std::string>> models{{"qwen2", "qwen3"}, {"deepseek_v3", "deepseek_r1"}};
    for (const auto& [model, family_name] : models) {
        INFO(model);
        const moe::io::gguf_file file(data_dir + "gguf_tokenizers/" + model + ".gguf");
        const auto family = moe::text::chat_family_from_gguf(file);
        REQUIRE(family.has_value());
        CHECK(*family == (family_name == "qwen3" ? chat_family::qwen3 : chat_family::deepseek_r1));
        CHECK(file.string("tokenizer.chat_template") == reference["templates"][family_name].get<std::string>());
        const auto tok = moe::text::tokenizer_from_gguf(file);
        const auto json_tok = moe::text::tokenizer::from_file(data_dir + "tokenizers/" + model + "/tokenizer.json");
        std::size_t rendered = 0;
        for (const auto& c : reference["cases"]) {
            if (c["family"] != family_name || c["text"].is_null()) continue;
            std::vector<moe::text::chat_message> messages;
            for (const auto& m : c["messages"])
                messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>(), std::nullopt});
            const moe::text::chat_options options{.add_generation_prompt = c["add_generation_prompt"].get<bool>(),
                                                  .enable_thinking = c["enable_thinking"].get<bool>()};
            CHECK(moe::text::apply_chat_template(*family, messages, options) == c["text"].get<std::string>());
            CHECK(moe::text::encode_chat(tok, *family, messages, options) ==
                  moe::text::encode_chat(json_tok, *family, messages, options));
            ++rendered;
        }
        CHECK(rendered >= 3);
    }
    const moe::io::gguf_file llama3(data_dir + "gguf_tokenizers/llama3_style.gguf");
    CHECK_FALSE(moe::text::chat_family_from_gguf(llama3).has_value());  // no tokenizer.chat_template
    CHECK(moe::text::chat_family_of_template(reference["templates"]["mistral"].get<std::string>()) ==
          chat_family::mistral);
    CHECK_FALSE(moe::text::chat_family_of_template("{{ '<|im_start|>' + message['role'] }}").has_value());
}

TEST_CASE("every known pre-tokenizer's regexes compile, and names are unique", "[text][gguf]") {
    std::vector<std::string_view> names;
    for (const auto& spec : moe::text::gguf_vocab::pre_tokenizer_specs()) {
        for (const auto regex : spec.regexes) {
            INFO(spec.names.front() << ": " << regex);
            CHECK_NOTHROW(moe::text::regex(regex));
        }
        names.insert(names.end(), spec.names.begin(), spec.names.end());
    }
    std::sort(names.begin(), names.end());
    CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
    CHECK(names.size() >= 60);
}

TEST_CASE("bad tokenizer metadata fails with a message naming the key", "[text][gguf][errors]") {
    auto load = [](const std::string& name) {
        const moe::io::gguf_file file(data_dir + "gguf_tokenizers/bad/" + name + ".gguf");
        return moe::text::tokenizer_from_gguf(file);
    };
    SECTION("the well-formed twin loads") {
        const auto tok = load("good");
        CHECK(tok.encode("abcab<|end|>") == ids_t{4, 2, 5});
        CHECK(tok.decode(ids_t{4, 2, 5}) == "abcab<|end|>");
    }
    SECTION("tokens not an array of strings") {
        CHECK_THROWS_WITH(load("tokens_not_strings"), Contains("tokenizer.ggml.tokens"));
    }
    SECTION("tokens missing") { CHECK_THROWS_WITH(load("tokens_missing"), Contains("tokenizer.ggml.tokens")); }
    SECTION("token_type length differs from tokens") {
        CHECK_THROWS_WITH(load("token_type_length"),
                          Contains("tokenizer.ggml.token_type") && Contains("3 entries for 6 tokens"));
    }
    SECTION("unknown token type") {
        CHECK_THROWS_WITH(load("token_type_value"),
                          Contains("tokenizer.ggml.token_type[4]") && Contains("unknown token type 9"));
    }
    SECTION("merge naming an unknown token") {
        CHECK_THROWS_WITH(load("merge_unknown_token"),
                          Contains("tokenizer.ggml.merges[1]") && Contains("names 'zz'"));
    }
    SECTION("merge without a space") {
        CHECK_THROWS_WITH(load("merge_without_space"),
                          Contains("tokenizer.ggml.merges[1]") && Contains("not two tokens separated by a space"));
    }
    SECTION("merges not strings") { CHECK_THROWS_WITH(load("merges_not_strings"), Contains("tokenizer.ggml.merges")); }
    SECTION("bos id out of range") {
        CHECK_THROWS_WITH(load("bos_out_of_range"),
                          Contains("tokenizer.ggml.bos_token_id") && Contains("token id 6 is outside the vocabulary"));
    }
    SECTION("unknown model") {
        CHECK_THROWS_WITH(load("unknown_model"), Contains("tokenizer.ggml.model") && Contains("'bert'") &&
                                                     Contains("supported: gpt2"));
    }
    SECTION("unknown pre-tokenizer") {
        CHECK_THROWS_WITH(load("unknown_pre"), Contains("tokenizer.ggml.pre") && Contains("'my-new-model'") &&
                                                   Contains("known: default, llama3") && Contains("qwen2"));
    }
    SECTION("missing pre-tokenizer") {
        CHECK_THROWS_WITH(load("pre_missing"), Contains("tokenizer.ggml.pre") && Contains("missing"));
    }
    SECTION("duplicate token") {
        CHECK_THROWS_WITH(load("duplicate_token"),
                          Contains("tokenizer.ggml.tokens[5]") && Contains("'a' is also token 0"));
    }
}

// SentencePiece ("llama") GGUFs: tests/data/gguf_tokenizers/llama_spm/, written by
// tools/make_gguf_spm_tokenizer_reference.py with llama.cpp's converter (_set_vocab_sentencepiece from the
// tokenizer.model equivalent to the test tokenizer.json; llama_hf.gguf through _set_vocab_llama_hf, all scores
// -1000). reference.json holds llama.cpp's own tokenization (llama-cpp-python, vocab-only load) of every corpus and
// fuzz string — ids stored where they differ from `tokenizers`' records — and its llama_detokenize of them.
namespace {

struct llama_cpp_case {
    std::string text;
    bool add_bos;
    ids_t ids;  // llama.cpp's
    bool agrees_with_tokenizers;
};

// The corpus (no BOS) then the fuzz strings (BOS), in the order the script tokenized them.
std::vector<llama_cpp_case> llama_cpp_cases(const nlohmann::json& record, const std::string& source) {
    const auto reference = read_json(data_dir + "tokenizers/" + source + "/reference.json");
    const auto fuzz = read_json(data_dir + "tokenizers/fuzz_reference.json")[source];
    std::vector<llama_cpp_case> out;
    for (const auto& c : reference["cases"]) out.push_back({c["text"], false, c["ids_no_special"], true});
    for (const auto& c : fuzz) out.push_back({c["text"], true, c["ids"], true});
    for (const auto& [index, ids] : record["llama_cpp_ids_where_different"].items()) {
        auto& c = out.at(std::stoul(index));
        c.ids = ids.get<ids_t>();
        c.agrees_with_tokenizers = false;
    }
    return out;
}

// Every string encodes to llama.cpp's ids and decodes back to llama.cpp's text; returns how many also equal
// `tokenizers`.
std::size_t check_llama_cpp(const std::string& gguf, const std::string& source) {
    const auto tok = gguf_tokenizer("llama_spm/" + gguf);
    const auto record = read_json(data_dir + "gguf_tokenizers/llama_spm/reference.json")[gguf];
    const auto cases = llama_cpp_cases(record, source);
    REQUIRE(cases.size() == record["strings"].get<std::size_t>());
    REQUIRE(cases.size() >= 450);
    std::size_t agree = 0;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& c = cases[i];
        INFO(gguf << " string " << i << ": " << nlohmann::json(c.text).dump());
        CHECK(tok.encode(c.text, c.add_bos) == c.ids);
        CHECK(tok.decode(c.ids) == record["llama_cpp_decoded"][i].get<std::string>());
        agree += c.agrees_with_tokenizers;
    }
    return agree;
}

}  // namespace

TEST_CASE("Llama-2 GGUF tokenizer (SentencePiece 'llama') equals its tokenizer.json and llama.cpp", "[text][gguf]") {
    // The tokenizer.json route's records (ids with and without BOS, both decodings, 53 + 400 strings) and the
    // vocabulary id by id.
    const auto tok = gguf_tokenizer("llama_spm/llama_sentencepiece");
    const auto reference = read_json(data_dir + "tokenizers/llama_sentencepiece/reference.json");
    check_against(tok, reference, read_json(data_dir + "tokenizers/fuzz_reference.json")["llama_sentencepiece"]);
    const auto json_tok = moe::text::tokenizer::from_file(data_dir + "tokenizers/llama_sentencepiece/tokenizer.json");
    CHECK(tok.vocab_size() == json_tok.vocab_size());
    for (std::int32_t id = 0; id < static_cast<std::int32_t>(json_tok.vocab_size()); ++id) {
        INFO("id " << id);
        REQUIRE(tok.id_to_token(id) == json_tok.id_to_token(id));
        CHECK(tok.is_special(id) == json_tok.is_special(id));
    }
    CHECK(tok.bos_token() == "<s>");
    CHECK(tok.eos_token() == "</s>");
    // llama.cpp agrees with `tokenizers` on every string here, so this is the same check from the other side.
    CHECK(check_llama_cpp("llama_sentencepiece", "llama_sentencepiece") == 453);
}

TEST_CASE("Mistral GGUF tokenizer (SentencePiece, from a Metaspace tokenizer.json) equals llama.cpp", "[text][gguf]") {
    // A GGUF cannot say Metaspace's prepend_scheme "first" (▁ only at the very start, none when the text already
    // starts with a space): llama.cpp, and so moe, put ▁ before every segment after a special token and before a
    // leading space too. The script counted 274 of 453 strings where that changes nothing.
    CHECK(check_llama_cpp("mistral_metaspace", "mistral_metaspace") == 274);
    const auto tok = gguf_tokenizer("llama_spm/mistral_metaspace");
    const auto json_tok = moe::text::tokenizer::from_file(data_dir + "tokenizers/mistral_metaspace/tokenizer.json");
    CHECK(tok.encode("Hello world", true) == json_tok.encode("Hello world", true));
    CHECK(tok.encode("[INST] Hi", false) != json_tok.encode("[INST] Hi", false));  // the prefix after [INST]
}

TEST_CASE("a GGUF from _set_vocab_llama_hf (every score -1000) tokenizes as llama.cpp does", "[text][gguf]") {
    // Equal scores leave only the leftmost-first rule: llama.cpp agrees with `tokenizers` on 386 of 453 strings,
    // and moe reproduces llama.cpp on all of them, the 67 others included.
    CHECK(check_llama_cpp("llama_hf", "llama_sentencepiece") == 386);
}

TEST_CASE("SentencePiece merge rule on a hand-made vocabulary equals llama.cpp", "[text][gguf]") {
    // Ties between equal scores, tokens reachable from characters that are not tokens, byte fallback, a
    // user-defined token, add_space_prefix false (tools/make_gguf_spm_tokenizer_reference.py, TRICKY_*).
    const auto tok = gguf_tokenizer("llama_spm/tricky");
    const auto record = read_json(data_dir + "gguf_tokenizers/llama_spm/reference.json")["tricky"];
    REQUIRE(record.size() >= 19);
    for (const auto& c : record) {
        const std::string text = c["text"].get<std::string>();
        INFO(nlohmann::json(text).dump());
        CHECK(tok.encode(text, false) == c["ids"].get<ids_t>());
        CHECK(tok.encode(text, true) == c["ids_bos"].get<ids_t>());
        CHECK(tok.decode(c["ids"].get<ids_t>()) == c["decoded"].get<std::string>());
    }
    CHECK(tok.encode("abc", false) == ids_t{265});  // "ab" and "bc" score alike: the left pair first, then "abc"
}

TEST_CASE("bad SentencePiece metadata fails with a message naming the key", "[text][gguf][errors]") {
    auto load = [](const std::string& name) { return gguf_tokenizer("llama_spm/" + name); };
    CHECK_THROWS_WITH(load("bad_scores_length"),
                      Contains("tokenizer.ggml.scores") && Contains("7 entries for 273 tokens"));
    CHECK_THROWS_WITH(load("bad_score_nan"), Contains("tokenizer.ggml.scores[262]") && Contains("NaN"));
    CHECK_THROWS_WITH(load("bad_byte_token"),
                      Contains("tokenizer.ggml.token_type[13]") && Contains("'<0xZZ>' is not of the form <0xNN>"));
}

}  // namespace test_gguf_tokenizer
