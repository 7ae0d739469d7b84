// moe/text/added_vocabulary.hpp — tokenizer.json "added_tokens": tokens matched in the text before the model runs
// (special tokens such as <|im_start|>, and plain added ones such as Qwen3's <think>).
//
// As in Hugging Face: tokens with normalized=false are found in the raw text first; the rest of the text is
// normalized and then tokens with normalized=true are found in it. Matching is leftmost-longest; lstrip/rstrip
// swallow the whitespace beside a match; single_word rejects matches inside a word. Matches are looked up in a byte
// trie (moe/text/byte_trie.hpp), so encoding costs at most the longest added token's length per input byte.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/text/byte_trie.hpp"
#include "moe/text/limits.hpp"
#include "moe/text/json_access.hpp"
#include "moe/text/unicode.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text {

struct added_token {
    std::int32_t id = 0;
    std::string content;
    bool special = false;
    bool normalized = false;
    bool lstrip = false, rstrip = false, single_word = false;
};

// A stretch of text that is either one added token (`id` set) or text still to tokenize.
struct text_segment {
    std::string text;
    std::optional<std::int32_t> id;
    bool at_start = false;              // begins at offset 0 of the input
    std::vector<std::uint8_t> literal;  // empty, or one mark per byte: 1 = literal text, where no token is matched

    text_segment slice(std::size_t begin, std::size_t end) const {
        text_segment out{text.substr(begin, end - begin), std::nullopt, at_start && begin == 0, {}};
        if (!literal.empty())
            out.literal.assign(literal.begin() + static_cast<std::ptrdiff_t>(begin),
                               literal.begin() + static_cast<std::ptrdiff_t>(end));
        return out;
    }
};

class added_vocabulary {
   public:
    static added_vocabulary from_json(const detail::json& list, const std::string& where) {
        added_vocabulary v;
        if (list.is_null()) return v;
        if (!list.is_array()) throw detail::error_at(where, "added_tokens must be an array");
        std::size_t total_bytes = 0;
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string at = where + "[" + std::to_string(i) + "]";
            added_token t;
            t.content = detail::string_field(list[i], "content", at);
            t.id = detail::token_id(detail::field(list[i], "id", at), t.content, at);
            t.special = detail::optional_field(list[i], "special", false, at);
            t.normalized = detail::optional_field(list[i], "normalized", !t.special, at);
            t.lstrip = detail::optional_field(list[i], "lstrip", false, at);
            t.rstrip = detail::optional_field(list[i], "rstrip", false, at);
            t.single_word = detail::optional_field(list[i], "single_word", false, at);
            if (t.content.empty()) throw detail::error_at(at, "added token with empty content");
            total_bytes += t.content.size();
            check_size(t.content, total_bytes, at);
            if (const added_token* other = v.find(t.id))
                throw detail::error_at(at, "added tokens '" + excerpt(other->content, 64) + "' and '" +
                                               excerpt(t.content, 64) + "' share id " + std::to_string(t.id));
            v.by_id_[t.id] = v.tokens_.size();
            v.by_content_[t.content] = v.tokens_.size();
            v.tokens_.push_back(std::move(t));
        }
        v.build_trie();
        return v;
    }

    const std::vector<added_token>& tokens() const { return tokens_; }
    const added_token* find(std::int32_t id) const {
        const auto it = by_id_.find(id);
        return it == by_id_.end() ? nullptr : &tokens_[it->second];
    }
    const added_token* find(std::string_view content) const {
        const auto it = by_content_.find(std::string(content));
        return it == by_content_.end() ? nullptr : &tokens_[it->second];
    }

    // Splits `segment` at the tokens whose `normalized` flag equals `normalized`. With `skip_special` special
    // tokens are not matched (Hugging Face's split_special_tokens); no token is matched over a literal byte.
    void split(const text_segment& segment, bool normalized, std::vector<text_segment>& out,
               bool skip_special = false) const {
        const std::string& s = segment.text;
        const auto& literal = segment.literal;
        auto next_literal_from = [&](std::size_t from) {  // first literal byte at or after `from`, or s.size()
            if (literal.empty()) return s.size();
            return static_cast<std::size_t>(std::find_if(literal.begin() + static_cast<std::ptrdiff_t>(from),
                                                         literal.end(), [](std::uint8_t m) { return m != 0; }) -
                                            literal.begin());
        };
        const std::size_t kind = query_kind(normalized, skip_special);
        std::size_t start_offset = 0, next_literal = next_literal_from(0);
        for (std::size_t at = 0; at < s.size();) {
            if (next_literal < at) next_literal = next_literal_from(at);  // `at` only grows: linear in all
            // No token is matched over a literal byte: the lookup sees the text up to the next one.
            const std::int32_t found = trie_.longest_prefix(std::string_view(s).substr(at, next_literal - at), kind);
            const added_token* best = found < 0 ? nullptr : &tokens_[static_cast<std::size_t>(found)];
            if (best == nullptr) {
                ++at;
                continue;
            }
            std::size_t start = at, stop = at + best->content.size();
            at = stop;
            if (best->single_word && !(is_word_boundary_before(s, start) && is_word_boundary_after(s, stop))) continue;
            if (best->lstrip) start = std::max(whitespace_start_before(s, start), start_offset);
            if (best->rstrip) stop = whitespace_end_after(s, stop);
            if (start_offset < start) out.push_back(segment.slice(start_offset, start));
            out.push_back({s.substr(start, stop - start), best->id, segment.at_start && start == 0, {}});
            start_offset = stop;
            at = std::max(at, stop);
        }
        if (start_offset < s.size()) out.push_back(segment.slice(start_offset, s.size()));
    }

   private:
    // Which tokens a split may match: byte_trie query kind (normalized flag) x (special tokens skipped).
    static std::size_t query_kind(bool normalized, bool skip_special) {
        return (normalized ? 2u : 0u) + (skip_special ? 1u : 0u);
    }

    static void check_size(const std::string& content, std::size_t total_bytes, const std::string& at) {
        using limits = tokenizer_limits;
        if (content.size() > limits::max_added_token_bytes)
            throw detail::error_at(at, "added token '" + excerpt(content, 64) + "' is " +
                                           std::to_string(content.size()) + " bytes long, above the limit of " +
                                           std::to_string(limits::max_added_token_bytes));
        if (total_bytes > limits::max_added_tokens_total_bytes)
            throw detail::error_at(at, "added tokens hold more than " +
                                           std::to_string(limits::max_added_tokens_total_bytes) +
                                           " bytes of content in all");
    }

    void build_trie() {
        std::vector<byte_trie::key> keys;
        keys.reserve(tokens_.size());
        for (const added_token& t : tokens_) {
            std::uint8_t mask = 0;
            for (const bool skip_special : {false, true})
                if (!(skip_special && t.special)) mask |= std::uint8_t(1u << query_kind(t.normalized, skip_special));
            keys.push_back({t.content, mask});
        }
        trie_ = byte_trie(keys);
    }

    static bool is_word_char(char32_t c) { return unicode::is_letter(c) || unicode::is_number(c) || c == '_'; }

    static char32_t char_before(const std::string& s, std::size_t at) {
        std::size_t b = at - 1;
        while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
        return utf8::decode(s, b).code_point;
    }
    static bool is_word_boundary_before(const std::string& s, std::size_t at) {
        return at == 0 || !is_word_char(char_before(s, at));
    }
    static bool is_word_boundary_after(const std::string& s, std::size_t at) {
        return at >= s.size() || !is_word_char(utf8::decode(s, at).code_point);
    }
    static std::size_t whitespace_start_before(const std::string& s, std::size_t at) {
        while (at > 0) {
            std::size_t b = at - 1;
            while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
            if (!unicode::is_whitespace(utf8::decode(s, b).code_point)) break;
            at = b;
        }
        return at;
    }
    static std::size_t whitespace_end_after(const std::string& s, std::size_t at) {
        while (at < s.size()) {
            const auto step = utf8::decode(s, at);
            if (!unicode::is_whitespace(step.code_point)) break;
            at += step.length;
        }
        return at;
    }

    std::vector<added_token> tokens_;
    std::unordered_map<std::int32_t, std::size_t> by_id_;
    std::unordered_map<std::string, std::size_t> by_content_;
    byte_trie trie_;  // over tokens_' contents; keys index tokens_
};

}  // namespace moe::text
