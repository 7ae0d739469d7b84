// moe/models/gguf/tokenizer.hpp — the tokenizer and chat template a GGUF file carries in its metadata (tokenizer.ggml.*,
// tokenizer.chat_template), as the same moe::text::tokenizer the model's tokenizer.json gives.
//
//   moe::io::gguf_file file("Qwen3-30B-A3B-Q4_K_M.gguf");
//   moe::text::tokenizer tok = moe::text::tokenizer_from_gguf(file);
//   std::optional<moe::text::chat_family> chat = moe::text::chat_family_from_gguf(file);  // qwen3
//
// Supported: tokenizer.ggml.model "gpt2" (byte-level BPE: Qwen2/3, DeepSeek-V2/V3, Llama-3, OLMoE, GPT-2, ...) with
// the pre-tokenizers of moe/text/gguf_pre_tokenizers.hpp, and "llama" (SentencePiece BPE: Llama-2, Mistral, Mixtral;
// pieces, scores and byte tokens run by moe/text/spm.hpp as llama.cpp does). The metadata is turned into the
// tokenizer.json document
// Hugging Face would have for it — vocabulary and merges, control tokens (type 3) and user-defined ones (type 4) as
// added tokens, the pre-tokenizer regexes `tokenizer.ggml.pre` names, BOS/EOS from add_bos_token / add_eos_token —
// and loaded by the tokenizer.json path, so both routes share one implementation and one set of checks.
//
// Where llama.cpp is lenient with a bad file this is strict, because a silently different tokenization is worse
// than an error: an unknown or missing pre-tokenizer name (llama.cpp falls back to "default" with a warning), a
// special-token id outside the vocabulary (llama.cpp ignores it), duplicate tokens (llama.cpp aborts) are errors
// that name the file and the key.
#pragma once

#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/excerpt.hpp"
#include "moe/io/gguf_file.hpp"
#include "moe/text/chat_template.hpp"
#include "moe/text/error.hpp"
#include "moe/text/gguf_pre_tokenizers.hpp"
#include "moe/text/limits.hpp"
#include "moe/text/spm.hpp"
#include "moe/text/tokenizer.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text {

namespace gguf_vocab {

// tokenizer.ggml.token_type values (llama.h, enum llama_token_type).
enum class token_type : std::int64_t { undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4,
                                       unused = 5, byte = 6 };

namespace detail {

using json = nlohmann::json;

inline tokenizer_error error_at(const io::gguf_file& file, std::string_view key, std::string_view problem) {
    return text::detail::error_at(file.path() + ": " + std::string(key), problem);
}

// A special-token id key (bos, eos, ...): absent, or an id of one of the `n` tokens.
inline std::optional<std::int32_t> special_id(const io::gguf_file& file, std::string_view key, std::size_t n) {
    const auto id = file.optional_integer(key);
    if (!id) return std::nullopt;
    if (*id < 0 || static_cast<std::uint64_t>(*id) >= n)
        throw error_at(file, key, "token id " + std::to_string(*id) + " is outside the vocabulary of " +
                                      std::to_string(n) + " tokens");
    return static_cast<std::int32_t>(*id);
}

// The tokenizer.json document of a byte-level BPE tokenizer ("gpt2") described by the metadata.
inline json byte_level_bpe_document(const io::gguf_file& file, json vocab, json added, const pre_tokenizer_spec& pre) {
    json spec;
    // Merges "a b", split at the first space after the first byte as llama.cpp does (a token may start with one).
    const auto merges = file.string_array("tokenizer.ggml.merges");
    json merge_list = json::array();
    for (std::size_t i = 0; i < merges.size(); ++i) {
        const std::string& m = merges[i];
        const std::string key = "tokenizer.ggml.merges[" + std::to_string(i) + "]";
        const auto space = m.find(' ', 1);
        if (space == std::string::npos)
            throw error_at(file, key, "'" + excerpt(m, 64) + "' is not two tokens separated by a space");
        const std::string a = m.substr(0, space), b = m.substr(space + 1);
        for (const std::string& part : {a, b, a + b}) {
            if (!vocab.contains(part))
                throw error_at(file, key, "'" + excerpt(m, 64) + "' names '" + excerpt(part, 64) +
                                              "', which is not a normal token of tokenizer.ggml.tokens");
        }
        merge_list.push_back(json::array({a, b}));
    }
    spec["model"] = {{"type", "BPE"},
                     {"vocab", std::move(vocab)},
                     {"merges", std::move(merge_list)},
                     {"ignore_merges", pre.ignore_merges},
                     {"byte_fallback", false}};
    spec["added_tokens"] = std::move(added);
    if (pre.nfc) spec["normalizer"] = {{"type", "NFC"}};
    json splits = json::array();
    for (const auto regex : pre.regexes)
        splits.push_back({{"type", "Split"}, {"pattern", {{"Regex", std::string(regex)}}}, {"behavior", "Isolated"},
                          {"invert", false}});
    splits.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}});
    spec["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", std::move(splits)}};
    spec["decoder"] = {{"type", "ByteLevel"}};
    return spec;
}

// The tokenizer.json document of a SentencePiece BPE tokenizer ("llama"), as llama.cpp tokenizes it: each text
// segment between special tokens gets a leading ▁ when add_space_prefix (llama.cpp: a space at the start and after
// any special token; Hugging Face's Prepend normalizer per segment), spaces become ▁, then spm.hpp's score-driven
// merges. Decoding as Llama-2's tokenizer.json: ▁ back to spaces, <0xNN> to bytes, the prefix space dropped.
inline json sentencepiece_document(json pieces, json added, std::optional<std::string> unk, bool add_space_prefix) {
    json spec;
    spec["model"] = {{"type", std::string(spm_model::type_name)}, {"vocab", std::move(pieces)}};
    if (unk) spec["model"]["unk_token"] = *unk;
    spec["added_tokens"] = std::move(added);
    json escape = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}};
    spec["normalizer"] = add_space_prefix ? json{{"type", "Sequence"},
                                                 {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                                                                  escape}}}
                                          : escape;
    json decoders = {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                     {{"type", "ByteFallback"}},
                     {{"type", "Fuse"}}};
    if (add_space_prefix) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    spec["decoder"] = {{"type", "Sequence"}, {"decoders", std::move(decoders)}};
    return spec;
}

}  // namespace detail
}  // namespace gguf_vocab

// The tokenizer of a GGUF file. Throws tokenizer_error (or io::gguf_error for a key of the wrong type) naming the
// file and the key: unsupported model or pre-tokenizer (the message lists the supported ones), token_type not one
// entry per token, duplicate or non-UTF-8 tokens, merges naming unknown tokens, special-token ids out of range.
inline tokenizer tokenizer_from_gguf(const io::gguf_file& file) {
    using namespace gguf_vocab;
    using gguf_vocab::detail::error_at;
    using json = gguf_vocab::detail::json;

    const std::string model = file.string("tokenizer.ggml.model");
    if (model != "gpt2" && model != "llama")
        throw error_at(file, "tokenizer.ggml.model",
                       "unsupported tokenizer model '" + excerpt(model) +
                           "' (supported: gpt2, byte-level BPE; llama, SentencePiece BPE)");
    const bool spm = model == "llama";  // SentencePiece: no pre-tokenizer, llama.cpp ignores tokenizer.ggml.pre
    const auto pre_name = spm ? std::optional<std::string>{} : file.optional_string("tokenizer.ggml.pre");
    if (!spm && !pre_name)
        throw error_at(file, "tokenizer.ggml.pre",
                       "missing: the file predates pre-tokenizer names, so how it splits text is unknown (llama.cpp "
                       "guesses 'default'); convert the model again with a current convert_hf_to_gguf.py");
    const pre_tokenizer_spec* pre = spm ? nullptr : find_pre_tokenizer(*pre_name);
    if (!spm && pre == nullptr)
        throw error_at(file, "tokenizer.ggml.pre",
                       "unknown pre-tokenizer '" + excerpt(*pre_name) + "' (known: " + known_pre_tokenizer_names() +
                           ")");

    const std::vector<std::string> tokens = file.string_array("tokenizer.ggml.tokens");
    const std::size_t n = tokens.size();
    if (n == 0) throw error_at(file, "tokenizer.ggml.tokens", "the vocabulary is empty");
    if (n - 1 > static_cast<std::uint64_t>(tokenizer_limits::max_id))
        throw error_at(file, "tokenizer.ggml.tokens", std::to_string(n) + " tokens do not fit int32 ids");
    std::vector<std::int64_t> types(n, static_cast<std::int64_t>(token_type::normal));
    if (file.contains("tokenizer.ggml.token_type")) {
        types = file.integer_array("tokenizer.ggml.token_type");
        if (types.size() != n)
            throw error_at(file, "tokenizer.ggml.token_type",
                           std::to_string(types.size()) + " entries for " + std::to_string(n) +
                               " tokens (one per token)");
    }
    // SentencePiece: each piece's score decides which merge comes first (llama.cpp takes 0 when the key is absent).
    std::vector<double> scores;
    if (spm && file.contains("tokenizer.ggml.scores")) {
        scores = file.number_array("tokenizer.ggml.scores");
        if (scores.size() != n)
            throw error_at(file, "tokenizer.ggml.scores",
                           std::to_string(scores.size()) + " entries for " + std::to_string(n) +
                               " tokens (one per token)");
    }

    // SentencePiece: every token is a piece merges can reach, whatever its type (llama.cpp's text_to_token).
    // Normal and byte tokens are the BPE vocabulary; control, unknown and user-defined ones are matched in the text
    // before BPE runs (Hugging Face's added tokens; llama.cpp's tokenizer_st_partition); unused ones (the
    // converter's [PAD<id>] fillers) name no token, as in Hugging Face.
    json vocab = json::object(), added = json::array();
    json pieces(spm ? n : 0, nullptr);  // SentencePiece: [piece, score] at each id, null where none
    std::unordered_map<std::string_view, std::size_t> seen;
    std::size_t added_bytes = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string& t = tokens[i];
        const std::string key = "tokenizer.ggml.tokens[" + std::to_string(i) + "]";
        if (t.empty()) continue;  // llama.cpp names it "[EMPTY_<id>]": a token no text produces
        if (!utf8::is_valid(t)) throw error_at(file, key, "'" + excerpt(t, 64) + "' is not valid UTF-8");
        if (const auto [at, fresh] = seen.emplace(t, i); !fresh)
            throw error_at(file, key, "'" + excerpt(t, 64) + "' is also token " + std::to_string(at->second));
        const std::int64_t type = types[i];
        const auto type_key = "tokenizer.ggml.token_type[" + std::to_string(i) + "]";
        const auto id = static_cast<std::int32_t>(i);
        if (spm) {
            const double score = scores.empty() ? 0.0 : scores[i];
            if (std::isnan(score))
                throw error_at(file, "tokenizer.ggml.scores[" + std::to_string(i) + "]", "the score is NaN");
            // Decoding turns a byte token into its byte by its name, as llama.cpp's token_to_byte does.
            const auto hex = [&](std::size_t k) { return std::isxdigit(static_cast<unsigned char>(t[k])) != 0; };
            if (static_cast<token_type>(type) == token_type::byte &&
                !(t.size() == 6 && t.starts_with("<0x") && t.back() == '>' && hex(3) && hex(4)))
                throw error_at(file, type_key, "byte token '" + excerpt(t, 64) + "' is not of the form <0xNN>");
            pieces[i] = json::array({t, score});
        }
        switch (static_cast<token_type>(type)) {
            case token_type::undefined:
            case token_type::normal:
            case token_type::byte: vocab[t] = id; break;
            case token_type::unknown:
            case token_type::control:
            case token_type::user_defined: {
                added_bytes += t.size();
                if (t.size() > tokenizer_limits::max_added_token_bytes)
                    throw error_at(file, key, "a special token of " + std::to_string(t.size()) +
                                                  " bytes, above the limit of " +
                                                  std::to_string(tokenizer_limits::max_added_token_bytes));
                if (added_bytes > tokenizer_limits::max_added_tokens_total_bytes)
                    throw error_at(file, key, "special tokens hold more than " +
                                                  std::to_string(tokenizer_limits::max_added_tokens_total_bytes) +
                                                  " bytes in all");
                const bool special = static_cast<token_type>(type) != token_type::user_defined;
                added.push_back({{"id", id}, {"content", t}, {"special", special}, {"normalized", false}});
                break;
            }
            case token_type::unused: break;
            default:
                throw error_at(file, type_key, "unknown token type " + std::to_string(type) +
                                                   " (1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, "
                                                   "6 byte)");
        }
    }

    // BOS / EOS / unknown as the file says, else llama.cpp's defaults for a SentencePiece vocabulary (1, 2, 0).
    auto bos = gguf_vocab::detail::special_id(file, "tokenizer.ggml.bos_token_id", n);
    auto eos = gguf_vocab::detail::special_id(file, "tokenizer.ggml.eos_token_id", n);
    auto unk = gguf_vocab::detail::special_id(file, "tokenizer.ggml.unknown_token_id", n);
    if (spm) {
        if (!bos && n > 1 && !tokens[1].empty()) bos = 1;
        if (!eos && n > 2 && !tokens[2].empty()) eos = 2;
        if (!unk && !tokens[0].empty()) unk = 0;
    }
    json spec = spm ? gguf_vocab::detail::sentencepiece_document(
                          std::move(pieces), std::move(added),
                          unk ? std::optional<std::string>(tokens[static_cast<std::size_t>(*unk)]) : std::nullopt,
                          file.optional_boolean("tokenizer.ggml.add_space_prefix").value_or(true))
                    : gguf_vocab::detail::byte_level_bpe_document(file, std::move(vocab), std::move(added), *pre);

    // Whether BOS / EOS are added: as the file asks, else as llama.cpp defaults for this pre-tokenizer (SentencePiece:
    // BOS).
    (void)gguf_vocab::detail::special_id(file, "tokenizer.ggml.padding_token_id", n);
    const bool add_bos = file.optional_boolean("tokenizer.ggml.add_bos_token").value_or(spm || pre->add_bos);
    const bool add_eos = file.optional_boolean("tokenizer.ggml.add_eos_token").value_or(false);
    if (add_bos && !bos)
        throw error_at(file, "tokenizer.ggml.add_bos_token", "is true but tokenizer.ggml.bos_token_id is missing");
    if (add_eos && !eos)
        throw error_at(file, "tokenizer.ggml.add_eos_token", "is true but tokenizer.ggml.eos_token_id is missing");
    if (add_bos || add_eos) {
        json single = json::array(), specials = json::object();
        auto add = [&](std::int32_t id) {
            const std::string name = tokens[static_cast<std::size_t>(id)];
            single.push_back({{"SpecialToken", {{"id", name}, {"type_id", 0}}}});
            specials[name] = {{"id", name}, {"ids", json::array({id})}, {"tokens", json::array({name})}};
        };
        if (add_bos) add(*bos);
        single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
        if (add_eos) add(*eos);
        spec["post_processor"] = {{"type", "TemplateProcessing"}, {"single", std::move(single)},
                                  {"special_tokens", std::move(specials)}};
    }

    tokenizer tok = tokenizer::from_json(spec.dump(), file.path());
    if (bos && !tokens[static_cast<std::size_t>(*bos)].empty()) tok.set_bos_token(tokens[static_cast<std::size_t>(*bos)]);
    if (eos && !tokens[static_cast<std::size_t>(*eos)].empty()) tok.set_eos_token(tokens[static_cast<std::size_t>(*eos)]);
    return tok;
}

// Which of the hand-written chat templates (moe/text/chat_template.hpp) a Jinja chat template is, recognised by
// the markup it writes, as llama.cpp's llm_chat_detect_template does: Qwen3 (ChatML with a <think> block),
// DeepSeek-R1 (<｜User｜> / <｜Assistant｜>), Mistral ([INST] ... [/INST]). nullopt: none of them (for example plain
// ChatML with a default system prompt) — pick one explicitly.
inline std::optional<chat_family> chat_family_of_template(std::string_view jinja) {
    const auto has = [&](std::string_view s) { return jinja.find(s) != std::string_view::npos; };
    if (has("<|im_start|>") && (has("<think>") || has("enable_thinking"))) return chat_family::qwen3;
    if (has("<\xEF\xBD\x9CUser\xEF\xBD\x9C>") && has("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>"))
        return chat_family::deepseek_r1;
    if (has("[INST]") && has("[/INST]")) return chat_family::mistral;
    return std::nullopt;
}

// The chat template of a GGUF file (tokenizer.chat_template), when it is one chat_family renders.
inline std::optional<chat_family> chat_family_from_gguf(const io::gguf_file& file) {
    const auto jinja = file.optional_string("tokenizer.chat_template");
    if (!jinja) return std::nullopt;
    return chat_family_of_template(*jinja);
}

}  // namespace moe::text
