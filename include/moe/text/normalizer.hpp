// moe/text/normalizer.hpp — tokenizer.json "normalizer": NFC, Prepend, Replace, Strip, Sequence (and null).
// These cover Qwen2/3 (NFC), DeepSeek-V3 (empty Sequence) and Llama-2/Mistral (Prepend "▁" + Replace " " -> "▁").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/text/json_access.hpp"
#include "moe/text/regex.hpp"
#include "moe/text/unicode.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text {

class normalizer {
   public:
    enum class kind { nfc, prepend, replace, strip, sequence };

    // `depth`: how many Sequences this one sits in (capped: tokenizer_limits::max_sequence_depth).
    static normalizer from_json(const detail::json& spec, const std::string& where, std::size_t depth = 0) {
        normalizer n;
        const std::string type = detail::type_of(spec, where);
        if (type == "NFC") {
            n.type_ = kind::nfc;
        } else if (type == "Prepend") {
            n.type_ = kind::prepend;
            n.text_ = detail::string_field(spec, "prepend", where);
        } else if (type == "Replace") {
            n.type_ = kind::replace;
            auto p = detail::pattern_field(spec, where);
            n.text_ = p.text;
            if (p.is_regex) n.regex_ = std::make_shared<regex>(p.text, where);
            n.content_ = detail::string_field(spec, "content", where);
        } else if (type == "Strip") {
            n.type_ = kind::strip;
            n.strip_left_ = detail::optional_field(spec, "strip_left", true, where);
            n.strip_right_ = detail::optional_field(spec, "strip_right", true, where);
        } else if (type == "Sequence") {
            n.type_ = kind::sequence;
            const auto& list = detail::field(spec, "normalizers", where);
            if (!list.is_array()) throw detail::error_at(where, "normalizers must be an array");
            const std::size_t inner = detail::nested(depth, where);
            for (std::size_t i = 0; i < list.size(); ++i)
                n.children_.push_back(from_json(list[i], where + ".normalizers[" + std::to_string(i) + "]", inner));
        } else {
            throw detail::error_at(where, "unsupported normalizer type '" + excerpt(type) +
                                              "' (supported: NFC, Prepend, Replace, Strip, Sequence)");
        }
        return n;
    }

    std::string operator()(std::string text) const { return apply(std::move(text), nullptr); }

    // The same, carrying a mark per byte (1: the byte is literal text, e.g. a user's message in a chat) into the
    // result, where a byte is marked when what it came from was. NFC composes only within runs of equal marks, so
    // literal text cannot compose with the markup beside it.
    std::string operator()(std::string text, std::vector<std::uint8_t>& marks) const {
        return apply(std::move(text), &marks);
    }

   private:
    std::string apply(std::string text, std::vector<std::uint8_t>* marks) const {
        switch (type_) {
            case kind::nfc: return marks ? nfc_runs(text, *marks) : unicode::nfc(text);
            case kind::prepend:
                if (text.empty()) return text;
                if (marks) marks->insert(marks->begin(), text_.size(), 0);
                return text_ + text;
            case kind::replace: return regex_ ? replace_regex(text, marks) : replace_string(text, marks);
            case kind::strip: return strip(text, marks);
            case kind::sequence:
                for (const auto& child : children_) text = child.apply(std::move(text), marks);
                return text;
        }
        return text;
    }

    static std::string nfc_runs(const std::string& text, std::vector<std::uint8_t>& marks) {
        std::string out;
        std::vector<std::uint8_t> out_marks;
        for (std::size_t b = 0; b < text.size();) {
            std::size_t e = b;
            while (e < text.size() && marks[e] == marks[b]) ++e;
            const std::string run = unicode::nfc(std::string_view(text).substr(b, e - b));
            out += run;
            out_marks.insert(out_marks.end(), run.size(), marks[b]);
            b = e;
        }
        marks = std::move(out_marks);
        return out;
    }

    // Code points with the mark of their first byte, and back.
    static std::u32string decode_marked(const std::string& text, const std::vector<std::uint8_t>* marks,
                                        std::vector<std::uint8_t>& cp_marks) {
        std::u32string cps;
        for (std::size_t at = 0; at < text.size();) {
            const auto step = utf8::decode(text, at);
            cps += step.code_point;
            if (marks) cp_marks.push_back((*marks)[at]);
            at += step.length;
        }
        return cps;
    }
    static std::string encode_marked(std::u32string_view cps, const std::vector<std::uint8_t>& cp_marks,
                                     std::vector<std::uint8_t>* marks) {
        std::string out;
        if (marks) marks->clear();
        for (std::size_t i = 0; i < cps.size(); ++i) {
            const std::size_t before = out.size();
            utf8::append(out, cps[i]);
            if (marks) marks->insert(marks->end(), out.size() - before, cp_marks[i]);
        }
        return out;
    }

    std::string replace_string(const std::string& text, std::vector<std::uint8_t>* marks) const {
        if (text_.empty()) return text;
        std::string out;
        std::vector<std::uint8_t> out_marks;
        std::size_t from = 0;
        for (std::size_t at; (at = text.find(text_, from)) != std::string::npos; from = at + text_.size()) {
            out.append(text, from, at - from);
            out += content_;
            if (marks) {
                out_marks.insert(out_marks.end(), marks->begin() + static_cast<std::ptrdiff_t>(from),
                                 marks->begin() + static_cast<std::ptrdiff_t>(at));
                std::uint8_t any = 0;
                for (std::size_t i = at; i < at + text_.size(); ++i) any |= (*marks)[i];
                out_marks.insert(out_marks.end(), content_.size(), any);
            }
        }
        out.append(text, from);
        if (marks) {
            out_marks.insert(out_marks.end(), marks->begin() + static_cast<std::ptrdiff_t>(from), marks->end());
            *marks = std::move(out_marks);
        }
        return out;
    }

    std::string replace_regex(const std::string& text, std::vector<std::uint8_t>* marks) const {
        std::vector<std::uint8_t> cp_marks, out_marks;
        const std::u32string cps = decode_marked(text, marks, cp_marks);
        const std::u32string replacement = utf8::decode_all(content_);
        std::u32string out;
        std::size_t from = 0;
        for (const auto& m : regex_->find_all(cps)) {
            out.append(cps, from, m.begin - from);
            out += replacement;
            if (marks) {
                out_marks.insert(out_marks.end(), cp_marks.begin() + static_cast<std::ptrdiff_t>(from),
                                 cp_marks.begin() + static_cast<std::ptrdiff_t>(m.begin));
                std::uint8_t any = 0;
                for (std::size_t i = m.begin; i < m.end; ++i) any |= cp_marks[i];
                out_marks.insert(out_marks.end(), replacement.size(), any);
            }
            from = m.end;
        }
        out.append(cps, from);
        if (marks)
            out_marks.insert(out_marks.end(), cp_marks.begin() + static_cast<std::ptrdiff_t>(from), cp_marks.end());
        return encode_marked(out, out_marks, marks);
    }

    std::string strip(const std::string& text, std::vector<std::uint8_t>* marks) const {
        std::vector<std::uint8_t> cp_marks;
        const std::u32string cps = decode_marked(text, marks, cp_marks);
        std::size_t b = 0, e = cps.size();
        if (strip_left_)
            while (b < e && unicode::is_whitespace(cps[b])) ++b;
        if (strip_right_)
            while (e > b && unicode::is_whitespace(cps[e - 1])) --e;
        if (marks) cp_marks = std::vector<std::uint8_t>(cp_marks.begin() + static_cast<std::ptrdiff_t>(b),
                                                        cp_marks.begin() + static_cast<std::ptrdiff_t>(e));
        return encode_marked(std::u32string_view(cps).substr(b, e - b), cp_marks, marks);
    }

    kind type_ = kind::sequence;
    std::string text_, content_;
    std::shared_ptr<const regex> regex_;
    bool strip_left_ = true, strip_right_ = true;
    std::vector<normalizer> children_;
};

}  // namespace moe::text
