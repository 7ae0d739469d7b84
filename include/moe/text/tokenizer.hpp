// moe/text/tokenizer.hpp — a Hugging Face tokenizer.json (BPE models) in C++: encode text to ids, decode ids to
// text, look up tokens. Mirrors the `tokenizers` pipeline:
//   added tokens (raw) -> normalizer -> added tokens (normalized) -> pre-tokenizer -> BPE -> post-processor
// and on the way back: ids -> token strings (special ones optionally skipped) -> decoder chain -> text.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "moe/error.hpp"
#include "moe/excerpt.hpp"
#include "moe/runtime/regular_file.hpp"
#include "moe/text/added_vocabulary.hpp"
#include "moe/text/bpe.hpp"
#include "moe/text/decoder.hpp"
#include "moe/text/json_access.hpp"
#include "moe/text/normalizer.hpp"
#include "moe/text/post_processor.hpp"
#include "moe/text/pre_tokenizer.hpp"
#include "moe/text/spm.hpp"
#include "moe/text/text_range.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text {

// The model step: tokenizer.json's BPE, or SentencePiece BPE by piece scores (a GGUF "llama" vocabulary,
// moe/text/spm.hpp; model type "SentencePieceBPE").
class token_model {
   public:
    token_model() = default;
    static token_model from_json(const detail::json& spec, const std::string& where) {
        token_model m;
        if (spec.is_object() && spec.contains("type") && spec["type"] == std::string(spm_model::type_name))
            m.model_ = spm_model::from_json(spec, where);
        else
            m.model_ = bpe_model::from_json(spec, where);
        return m;
    }
    std::size_t size() const { return std::visit([](const auto& m) { return m.size(); }, model_); }
    const std::unordered_map<std::string, std::int32_t>& vocab() const {
        return std::visit([](const auto& m) -> const auto& { return m.vocab(); }, model_);
    }
    std::optional<std::int32_t> token_to_id(std::string_view t) const {
        return std::visit([&](const auto& m) { return m.token_to_id(t); }, model_);
    }
    const std::string* id_to_token(std::int32_t id) const {
        return std::visit([&](const auto& m) { return m.id_to_token(id); }, model_);
    }
    void tokenize(std::string_view word, std::vector<std::int32_t>& out) const {
        std::visit([&](const auto& m) { m.tokenize(word, out); }, model_);
    }

   private:
    std::variant<bpe_model, spm_model> model_;
};

struct encode_options {
    // Run the post-processor (e.g. Llama's <s> in front).
    bool add_special_tokens = true;
    // Hugging Face's split_special_tokens=True: special tokens written in the text are encoded as ordinary text
    // (non-special added tokens such as Qwen3's <think> are still recognised).
    bool split_special_tokens = false;
    // Byte ranges of the text where no added token at all is recognised: text someone else wrote, such as a chat
    // message inside a rendered prompt (encode_chat fills it). Sorted, not overlapping, inside the text.
    std::span<const text_range> literal = {};
};

class tokenizer {
   public:
    // Reads tokenizer.json. When a tokenizer_config.json sits next to it, its bos_token / eos_token are read too.
    static tokenizer from_file(const std::filesystem::path& path) {
        const std::string name = path.string();
        std::string text;  // only a regular file is read: a FIFO, device or directory is refused, never blocks
        if (auto problem = moe::detail::read_regular_file(path, text); !problem.empty()) {
            throw detail::error_at(name, problem);
        }
        tokenizer t = from_json(text, name);
        const auto config = path.parent_path() / "tokenizer_config.json";
        std::error_code absent;
        if (std::filesystem::exists(config, absent)) t.read_config(config);
        return t;
    }

    // Parses tokenizer.json text; `name` is used in error messages.
    // Every failure is a tokenizer_error naming `name`: a library error passes through, anything else thrown while
    // reading (a JSON value of the wrong type, a length error) is wrapped.
    static tokenizer from_json(std::string_view text, const std::string& name = "tokenizer.json") {
        try {
            return parse(text, name);
        } catch (const moe::error&) {
            throw;
        } catch (const std::bad_alloc&) {
            throw;
        } catch (const std::exception& e) {
            throw detail::error_at(name, "malformed tokenizer.json: " + excerpt(e.what(), 200));
        }
    }

    // Text to ids. Invalid UTF-8 in `text` is replaced by U+FFFD first (Python strings can never hold it).
    // add_special_tokens runs the post-processor (e.g. Llama's <s> in front); special tokens written in the text
    // are recognised either way (encode_options::split_special_tokens turns that off).
    std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens = true) const {
        encode_options options;
        options.add_special_tokens = add_special_tokens;
        return encode(text, options);
    }

    std::vector<std::int32_t> encode(std::string_view text, const encode_options& options) const {
        std::vector<std::int32_t> ids;
        std::vector<text_segment> raw;
        added_.split(input_segment(text, options.literal), false, raw, options.split_special_tokens);
        for (const auto& segment : raw) {
            if (segment.id) {
                ids.push_back(*segment.id);
                continue;
            }
            text_segment normalized{{}, std::nullopt, segment.at_start, segment.literal};
            if (!normalizer_) normalized.text = segment.text;
            else if (segment.literal.empty()) normalized.text = (*normalizer_)(segment.text);
            else normalized.text = (*normalizer_)(segment.text, normalized.literal);
            std::vector<text_segment> parts;
            added_.split(normalized, true, parts, options.split_special_tokens);
            for (const auto& part : parts) {
                if (part.id) {
                    ids.push_back(*part.id);
                    continue;
                }
                std::vector<text_piece> words{{part.text, part.at_start}};
                if (pre_tokenizer_) words = (*pre_tokenizer_)(std::move(words));
                for (const auto& w : words) model_.tokenize(w.text, ids);
            }
        }
        if (options.add_special_tokens && post_processor_) ids = (*post_processor_)(std::move(ids));
        return ids;
    }

    // Ids to text. Ids that name no token are skipped, as Hugging Face does.
    std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const {
        bool incomplete = false;
        return decode_tracking(ids, skip_special_tokens, incomplete);
    }

    // decode() that also reports whether the text ends inside an unfinished UTF-8 character (streaming uses it).
    std::string decode_tracking(std::span<const std::int32_t> ids, bool skip_special_tokens, bool& incomplete) const {
        std::vector<std::string> tokens;
        tokens.reserve(ids.size());
        for (const std::int32_t id : ids) {
            if (const added_token* a = added_.find(id)) {
                if (!(skip_special_tokens && a->special)) tokens.push_back(a->content);
            } else if (const std::string* t = model_.id_to_token(id)) {
                tokens.push_back(*t);
            }
        }
        incomplete = false;
        std::string out;
        if (!decoder_) {
            for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
            return out;
        }
        for (const auto& piece : (*decoder_)(std::move(tokens), incomplete)) out += piece;
        return out;
    }

    std::optional<std::int32_t> token_to_id(std::string_view token) const {
        if (const added_token* a = added_.find(token)) return a->id;
        return model_.token_to_id(token);
    }

    std::optional<std::string> id_to_token(std::int32_t id) const {
        if (const added_token* a = added_.find(id)) return a->content;
        if (const std::string* t = model_.id_to_token(id)) return *t;
        return std::nullopt;
    }

    // Number of distinct tokens, added ones included (Hugging Face's get_vocab_size(with_added_tokens=True)).
    std::size_t vocab_size() const {
        std::size_t n = model_.size();
        for (const auto& a : added_.tokens())
            if (!model_.token_to_id(a.content)) ++n;
        return n;
    }

    bool is_special(std::int32_t id) const {
        const added_token* a = added_.find(id);
        return a != nullptr && a->special;
    }

    // The id of a special (added) token by its content, e.g. special_token_id("<|im_end|>").
    std::optional<std::int32_t> special_token_id(std::string_view content) const {
        const added_token* a = added_.find(content);
        if (a == nullptr || !a->special) return std::nullopt;
        return a->id;
    }

    const std::vector<added_token>& added_tokens() const { return added_.tokens(); }

    // BOS / EOS from tokenizer_config.json when it was found; otherwise BOS is the post-processor's first token.
    std::optional<std::string> bos_token() const {
        if (bos_) return bos_;
        if (post_processor_) {
            const auto prefix = post_processor_->prefix();
            if (!prefix.empty()) return id_to_token(prefix.front());
        }
        return std::nullopt;
    }
    std::optional<std::string> eos_token() const { return eos_; }
    void set_bos_token(std::string token) { bos_ = std::move(token); }
    void set_eos_token(std::string token) { eos_ = std::move(token); }

    const std::string& name() const { return name_; }

   private:
    static tokenizer parse(std::string_view text, const std::string& name) {
        const detail::json spec = detail::parse_json(text, name);
        if (!spec.is_object()) throw detail::error_at(name, "top level must be a JSON object");
        tokenizer t;
        t.name_ = name;
        t.model_ = token_model::from_json(detail::field(spec, "model", name), name + ": model");
        if (spec.contains("added_tokens"))
            t.added_ = added_vocabulary::from_json(spec.at("added_tokens"), name + ": added_tokens");
        std::int64_t max_id = -1;  // added tokens must keep the id space dense too
        for (const auto& [token, id] : t.model_.vocab()) max_id = std::max<std::int64_t>(max_id, id);
        for (const auto& a : t.added_.tokens()) max_id = std::max<std::int64_t>(max_id, a.id);
        detail::check_id_density(max_id, t.vocab_size(), name + ": added_tokens");
        if (spec.contains("normalizer") && !spec["normalizer"].is_null())
            t.normalizer_ = normalizer::from_json(spec["normalizer"], name + ": normalizer");
        if (spec.contains("pre_tokenizer") && !spec["pre_tokenizer"].is_null())
            t.pre_tokenizer_ = pre_tokenizer::from_json(spec["pre_tokenizer"], name + ": pre_tokenizer");
        if (spec.contains("decoder") && !spec["decoder"].is_null())
            t.decoder_ = decoder::from_json(spec["decoder"], name + ": decoder");
        if (spec.contains("post_processor") && !spec["post_processor"].is_null())
            t.post_processor_ = post_processor::from_json(spec["post_processor"], name + ": post_processor");
        return t;
    }

    // The input as one segment; bytes inside `literal` ranges are marked. Each range and each gap is made valid
    // UTF-8 on its own, so the marks stay aligned with the text.
    static text_segment input_segment(std::string_view text, std::span<const text_range> literal) {
        if (literal.empty()) return {utf8::lossy(text), std::nullopt, true, {}};
        text_segment out{{}, std::nullopt, true, {}};
        std::size_t at = 0;
        auto append = [&](std::size_t end, std::uint8_t mark) {
            const std::string piece = utf8::lossy(text.substr(at, end - at));
            out.text += piece;
            out.literal.insert(out.literal.end(), piece.size(), mark);
            at = end;
        };
        for (const text_range& r : literal) {
            if (r.begin < at || r.end < r.begin || r.end > text.size())
                throw moe::invalid_argument("tokenizer::encode: literal ranges must be sorted, disjoint and inside "
                                            "the text (got [" + std::to_string(r.begin) + ", " +
                                            std::to_string(r.end) + ") for " + std::to_string(text.size()) +
                                            " bytes)");
            append(r.begin, 0);
            append(r.end, 1);
        }
        append(text.size(), 0);
        return out;
    }

    void read_config(const std::filesystem::path& path) {
        std::string text;
        if (auto problem = moe::detail::read_regular_file(path, text); !problem.empty()) {
            throw detail::error_at(path.string(), problem);
        }
        const detail::json config = detail::parse_json(text, path.string());
        auto token = [&](const char* key) -> std::optional<std::string> {
            if (!config.contains(key)) return std::nullopt;
            const auto& v = config[key];
            if (v.is_string()) return v.get<std::string>();
            if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
            return std::nullopt;
        };
        bos_ = token("bos_token");
        eos_ = token("eos_token");
    }

    std::string name_;
    token_model model_;
    added_vocabulary added_;
    std::optional<normalizer> normalizer_;
    std::optional<pre_tokenizer> pre_tokenizer_;
    std::optional<decoder> decoder_;
    std::optional<post_processor> post_processor_;
    std::optional<std::string> bos_, eos_;
};

}  // namespace moe::text
