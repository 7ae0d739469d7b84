// moe/text/decoder.hpp — tokenizer.json "decoder": ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip,
// Sequence (and null, which joins tokens with spaces). Each step maps a list of token strings to a new list,
// as Hugging Face's decode_chain does; the caller concatenates the final list.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/text/byte_level.hpp"
#include "moe/text/json_access.hpp"
#include "moe/text/pre_tokenizer.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text {

class decoder {
   public:
    enum class kind { byte_level, metaspace, replace, byte_fallback, fuse, strip, sequence };

    // `depth`: how many Sequences this one sits in (capped: tokenizer_limits::max_sequence_depth).
    static decoder from_json(const detail::json& spec, const std::string& where, std::size_t depth = 0) {
        decoder d;
        const std::string type = detail::type_of(spec, where);
        if (type == "ByteLevel") {
            d.type_ = kind::byte_level;
        } else if (type == "Metaspace") {
            d.type_ = kind::metaspace;
            d.text_ = detail::optional_field<std::string>(spec, "replacement", "\xE2\x96\x81", where);
            d.prepend_ = pre_tokenizer::parse_prepend_scheme(spec, where);
        } else if (type == "Replace") {
            d.type_ = kind::replace;
            const auto p = detail::pattern_field(spec, where);
            if (p.is_regex) throw detail::error_at(where, "Replace decoder with a Regex pattern is not supported");
            d.text_ = p.text;
            d.content_ = detail::string_field(spec, "content", where);
        } else if (type == "ByteFallback") {
            d.type_ = kind::byte_fallback;
        } else if (type == "Fuse") {
            d.type_ = kind::fuse;
        } else if (type == "Strip") {
            d.type_ = kind::strip;
            d.content_ = detail::string_field(spec, "content", where);
            if (utf8::decode_all(d.content_).size() != 1)
                throw detail::error_at(where, "Strip decoder content must be one character");
            d.start_ = detail::optional_field<std::size_t>(spec, "start", 0, where);
            d.stop_ = detail::optional_field<std::size_t>(spec, "stop", 0, where);
        } else if (type == "Sequence") {
            d.type_ = kind::sequence;
            const auto& list = detail::field(spec, "decoders", where);
            if (!list.is_array()) throw detail::error_at(where, "decoders must be an array");
            const std::size_t inner = detail::nested(depth, where);
            for (std::size_t i = 0; i < list.size(); ++i)
                d.children_.push_back(from_json(list[i], where + ".decoders[" + std::to_string(i) + "]", inner));
        } else {
            throw detail::error_at(where, "unsupported decoder type '" + excerpt(type) +
                                              "' (supported: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, "
                                              "Strip, Sequence)");
        }
        return d;
    }

    // `incomplete_tail` is set when the output ends inside a UTF-8 character whose remaining bytes may still come
    // (streaming holds such text back instead of emitting U+FFFD).
    std::vector<std::string> operator()(std::vector<std::string> tokens, bool& incomplete_tail) const {
        switch (type_) {
            case kind::byte_level: return {decode_byte_level(tokens, incomplete_tail)};
            case kind::metaspace:
                for (std::size_t i = 0; i < tokens.size(); ++i) {
                    std::string out;
                    const std::string& t = tokens[i];
                    for (std::size_t at = 0; at < t.size();) {
                        if (t.compare(at, text_.size(), text_) == 0 && !text_.empty()) {
                            if (!(i == 0 && prepend_ != pre_tokenizer::prepend_scheme::never)) out += ' ';
                            at += text_.size();
                        } else {
                            out += t[at++];
                        }
                    }
                    tokens[i] = std::move(out);
                }
                return tokens;
            case kind::replace:
                for (auto& t : tokens) t = replace_all(t);
                return tokens;
            case kind::byte_fallback: return decode_byte_fallback(tokens, incomplete_tail);
            case kind::fuse: {
                std::string all;
                for (const auto& t : tokens) all += t;
                return {all};
            }
            case kind::strip:
                for (auto& t : tokens) t = strip(t);
                return tokens;
            case kind::sequence:
                for (const auto& child : children_) tokens = child(std::move(tokens), incomplete_tail);
                return tokens;
        }
        return tokens;
    }

   private:
    static std::string decode_byte_level(const std::vector<std::string>& tokens, bool& incomplete_tail) {
        std::string bytes;
        for (const auto& t : tokens) {
            // A token with a character outside the byte map (an added token like "<｜User｜>") is kept as UTF-8.
            std::string mapped;
            bool all_mapped = true;
            for (std::size_t at = 0; at < t.size() && all_mapped;) {
                const auto s = utf8::decode(t, at);
                const int b = byte_level::char_to_byte(s.code_point);
                if (b < 0) all_mapped = false;
                else mapped += static_cast<char>(b);
                at += s.length;
            }
            bytes += all_mapped ? mapped : t;
        }
        incomplete_tail = utf8::incomplete_tail(bytes) != 0;
        return utf8::lossy(bytes);
    }

    // Runs of <0xNN> tokens become their bytes; a run that is not valid UTF-8 becomes one U+FFFD per token.
    static std::vector<std::string> decode_byte_fallback(const std::vector<std::string>& tokens, bool& incomplete_tail) {
        std::vector<std::string> out;
        std::string run;
        std::size_t run_tokens = 0;
        auto flush = [&](bool at_end) {
            if (run_tokens == 0) return;
            if (utf8::is_valid(run)) {
                out.push_back(run);
            } else {
                if (at_end && utf8::is_valid(run.substr(0, run.size() - utf8::incomplete_tail(run))) &&
                    utf8::incomplete_tail(run) != 0)
                    incomplete_tail = true;
                for (std::size_t i = 0; i < run_tokens; ++i) out.push_back("\xEF\xBF\xBD");
            }
            run.clear();
            run_tokens = 0;
        };
        for (const auto& t : tokens) {
            if (const int b = byte_token(t); b >= 0) {
                run += static_cast<char>(b);
                ++run_tokens;
            } else {
                flush(false);
                out.push_back(t);
            }
        }
        flush(true);
        return out;
    }

    static int byte_token(std::string_view t) {
        if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
        auto hex = [](char c) {
            return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        };
        const int hi = hex(t[3]), lo = hex(t[4]);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    std::string replace_all(const std::string& t) const {
        if (text_.empty()) return t;
        std::string out;
        std::size_t from = 0;
        for (std::size_t at; (at = t.find(text_, from)) != std::string::npos; from = at + text_.size()) {
            out.append(t, from, at - from);
            out += content_;
        }
        out.append(t, from);
        return out;
    }

    std::string strip(const std::string& t) const {
        std::size_t b = 0, e = t.size();
        for (std::size_t n = 0; n < start_ && t.compare(b, content_.size(), content_) == 0 && b < e; ++n)
            b += content_.size();
        for (std::size_t n = 0; n < stop_ && e >= b + content_.size() &&
                                t.compare(e - content_.size(), content_.size(), content_) == 0;
             ++n)
            e -= content_.size();
        return t.substr(b, e - b);
    }

    kind type_ = kind::sequence;
    std::string text_, content_;
    pre_tokenizer::prepend_scheme prepend_ = pre_tokenizer::prepend_scheme::always;
    std::size_t start_ = 0, stop_ = 0;
    std::vector<decoder> children_;
};

}  // namespace moe::text
