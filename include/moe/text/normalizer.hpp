// moe/text/normalizer.hpp — tokenizer.json "normalizer": NFC, Prepend, Replace, Strip, Sequence (and null).
// These cover Qwen2/3 (NFC), DeepSeek-V3 (empty Sequence) and Llama-2/Mistral (Prepend "▁" + Replace " " -> "▁").
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moe/text/json_access.hpp"
#include "moe/text/regex.hpp"
#include "moe/text/unicode.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text {

class normalizer {
   public:
    enum class kind { nfc, prepend, replace, strip, sequence };

    static normalizer from_json(const detail::json& spec, const std::string& where) {
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
            if (p.is_regex) n.regex_ = std::make_shared<regex>(p.text);
            n.content_ = detail::string_field(spec, "content", where);
        } else if (type == "Strip") {
            n.type_ = kind::strip;
            n.strip_left_ = detail::optional_field(spec, "strip_left", true, where);
            n.strip_right_ = detail::optional_field(spec, "strip_right", true, where);
        } else if (type == "Sequence") {
            n.type_ = kind::sequence;
            const auto& list = detail::field(spec, "normalizers", where);
            for (std::size_t i = 0; i < list.size(); ++i)
                n.children_.push_back(from_json(list[i], where + ".normalizers[" + std::to_string(i) + "]"));
        } else {
            throw detail::error_at(where, "unsupported normalizer type '" + type +
                                              "' (supported: NFC, Prepend, Replace, Strip, Sequence)");
        }
        return n;
    }

    std::string operator()(std::string text) const {
        switch (type_) {
            case kind::nfc: return unicode::nfc(text);
            case kind::prepend: return text.empty() ? text : text_ + text;
            case kind::replace: return regex_ ? replace_regex(text) : replace_string(text);
            case kind::strip: return strip(text);
            case kind::sequence:
                for (const auto& child : children_) text = child(std::move(text));
                return text;
        }
        return text;
    }

   private:
    std::string replace_string(const std::string& text) const {
        if (text_.empty()) return text;
        std::string out;
        std::size_t from = 0;
        for (std::size_t at; (at = text.find(text_, from)) != std::string::npos; from = at + text_.size()) {
            out.append(text, from, at - from);
            out += content_;
        }
        out.append(text, from);
        return out;
    }

    std::string replace_regex(const std::string& text) const {
        const std::u32string cps = utf8::decode_all(text);
        std::u32string out;
        std::size_t from = 0;
        for (const auto& m : regex_->find_all(cps)) {
            out.append(cps, from, m.begin - from);
            out += utf8::decode_all(content_);
            from = m.end;
        }
        out.append(cps, from);
        return utf8::encode(out);
    }

    std::string strip(const std::string& text) const {
        std::u32string cps = utf8::decode_all(text);
        std::size_t b = 0, e = cps.size();
        if (strip_left_)
            while (b < e && unicode::is_whitespace(cps[b])) ++b;
        if (strip_right_)
            while (e > b && unicode::is_whitespace(cps[e - 1])) --e;
        return utf8::encode(std::u32string_view(cps).substr(b, e - b));
    }

    kind type_ = kind::sequence;
    std::string text_, content_;
    std::shared_ptr<const regex> regex_;
    bool strip_left_ = true, strip_right_ = true;
    std::vector<normalizer> children_;
};

}  // namespace moe::text
