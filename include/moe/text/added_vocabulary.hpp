// moe/text/added_vocabulary.hpp — tokenizer.json "added_tokens": tokens matched in the text before the model runs
// (special tokens such as <|im_start|>, and plain added ones such as Qwen3's <think>).
//
// As in Hugging Face: tokens with normalized=false are found in the raw text first; the rest of the text is
// normalized and then tokens with normalized=true are found in it. Matching is leftmost-longest; lstrip/rstrip
// swallow the whitespace beside a match; single_word rejects matches inside a word.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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
    bool at_start = false;  // begins at offset 0 of the input
};

class added_vocabulary {
   public:
    static added_vocabulary from_json(const detail::json& list, const std::string& where) {
        added_vocabulary v;
        if (list.is_null()) return v;
        if (!list.is_array()) throw detail::error_at(where, "added_tokens must be an array");
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string at = where + "[" + std::to_string(i) + "]";
            added_token t;
            t.id = detail::field(list[i], "id", at).get<std::int32_t>();
            t.content = detail::string_field(list[i], "content", at);
            t.special = detail::optional_field(list[i], "special", false, at);
            t.normalized = detail::optional_field(list[i], "normalized", !t.special, at);
            t.lstrip = detail::optional_field(list[i], "lstrip", false, at);
            t.rstrip = detail::optional_field(list[i], "rstrip", false, at);
            t.single_word = detail::optional_field(list[i], "single_word", false, at);
            if (t.content.empty()) throw detail::error_at(at, "added token with empty content");
            v.by_id_[t.id] = v.tokens_.size();
            v.by_content_[t.content] = v.tokens_.size();
            v.tokens_.push_back(std::move(t));
        }
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

    // Splits `segment` at the tokens whose `normalized` flag equals `normalized`.
    void split(const text_segment& segment, bool normalized, std::vector<text_segment>& out) const {
        const std::string& s = segment.text;
        std::size_t start_offset = 0;
        for (std::size_t at = 0; at < s.size();) {
            const added_token* best = longest_at(s, at, normalized);
            if (best == nullptr) {
                ++at;
                continue;
            }
            std::size_t start = at, stop = at + best->content.size();
            at = stop;
            if (best->single_word && !(is_word_boundary_before(s, start) && is_word_boundary_after(s, stop))) continue;
            if (best->lstrip) start = std::max(whitespace_start_before(s, start), start_offset);
            if (best->rstrip) stop = whitespace_end_after(s, stop);
            if (start_offset < start)
                out.push_back({s.substr(start_offset, start - start_offset), std::nullopt,
                               segment.at_start && start_offset == 0});
            out.push_back({s.substr(start, stop - start), best->id, segment.at_start && start == 0});
            start_offset = stop;
            at = std::max(at, stop);
        }
        if (start_offset < s.size())
            out.push_back({s.substr(start_offset), std::nullopt, segment.at_start && start_offset == 0});
    }

   private:
    const added_token* longest_at(const std::string& s, std::size_t at, bool normalized) const {
        const added_token* best = nullptr;
        for (const auto& t : tokens_) {
            if (t.normalized != normalized || (best && t.content.size() <= best->content.size())) continue;
            if (s.compare(at, t.content.size(), t.content) == 0) best = &t;
        }
        return best;
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
};

}  // namespace moe::text
