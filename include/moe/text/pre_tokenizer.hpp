// moe/text/pre_tokenizer.hpp — tokenizer.json "pre_tokenizer": Split (regex or string, every behaviour), ByteLevel
// (add_prefix_space, use_regex), Digits, Metaspace, WhitespaceSplit, Sequence (and null).
//
// A pre-tokenizer cuts a normalized piece of text into words; BPE then runs on each word separately.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/text/byte_level.hpp"
#include "moe/text/json_access.hpp"
#include "moe/text/regex.hpp"
#include "moe/text/unicode.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text {

// A piece of text on its way to the model. `at_start` says it begins at offset 0 of the original input
// (Metaspace's prepend_scheme "first" prepends only there).
struct text_piece {
    std::string text;
    bool at_start = false;
};

namespace detail {

// GPT-2's pattern, used by ByteLevel when use_regex is true.
inline constexpr std::string_view gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class split_behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

inline split_behavior parse_behavior(const std::string& name, std::string_view where) {
    if (name == "Removed") return split_behavior::removed;
    if (name == "Isolated") return split_behavior::isolated;
    if (name == "MergedWithPrevious") return split_behavior::merged_with_previous;
    if (name == "MergedWithNext") return split_behavior::merged_with_next;
    if (name == "Contiguous") return split_behavior::contiguous;
    throw error_at(where, "unknown split behavior '" + excerpt(name) + "'");
}

struct span {
    std::size_t begin, end;  // bytes
    bool is_match;
};

// Cuts `piece` at the matched byte ranges as Hugging Face's NormalizedString::split does; empty pieces are dropped.
inline void split_piece(const text_piece& piece, const std::vector<std::pair<std::size_t, std::size_t>>& matches,
                        split_behavior behavior, bool invert, std::vector<text_piece>& out) {
    std::vector<span> spans;
    std::size_t last = 0;
    for (const auto& [b, e] : matches) {
        if (b > last) spans.push_back({last, b, invert});
        spans.push_back({b, e, !invert});
        last = e;
    }
    if (last < piece.text.size()) spans.push_back({last, piece.text.size(), invert});

    std::vector<std::pair<std::size_t, std::size_t>> cuts;
    switch (behavior) {
        case split_behavior::removed:
            for (const auto& s : spans)
                if (!s.is_match) cuts.emplace_back(s.begin, s.end);
            break;
        case split_behavior::isolated:
            for (const auto& s : spans) cuts.emplace_back(s.begin, s.end);
            break;
        case split_behavior::contiguous: {
            bool previous_match = false;
            for (const auto& s : spans) {
                if (s.is_match && previous_match && !cuts.empty()) cuts.back().second = s.end;
                else cuts.emplace_back(s.begin, s.end);
                previous_match = s.is_match;
            }
            break;
        }
        case split_behavior::merged_with_previous: {
            bool previous_match = false;
            for (const auto& s : spans) {
                if (s.is_match && !previous_match && !cuts.empty()) cuts.back().second = s.end;
                else cuts.emplace_back(s.begin, s.end);
                previous_match = s.is_match;
            }
            break;
        }
        case split_behavior::merged_with_next: {
            bool previous_match = false;
            for (const auto& s : spans) {
                if (!s.is_match && previous_match && !cuts.empty()) cuts.back().second = s.end;
                else cuts.emplace_back(s.begin, s.end);
                previous_match = s.is_match;
            }
            break;
        }
    }
    for (const auto& [b, e] : cuts)
        if (e > b) out.push_back({piece.text.substr(b, e - b), piece.at_start && b == 0});
}

// Byte ranges of the regex's matches in UTF-8 text.
inline std::vector<std::pair<std::size_t, std::size_t>> regex_matches(const regex& re, const std::string& text) {
    std::u32string cps;
    std::vector<std::size_t> offset;  // byte offset of each code point, plus the end
    for (std::size_t at = 0; at < text.size();) {
        const auto s = utf8::decode(text, at);
        cps += s.code_point;
        offset.push_back(at);
        at += s.length;
    }
    offset.push_back(text.size());
    std::vector<std::pair<std::size_t, std::size_t>> out;
    for (const auto& m : re.find_all(cps)) out.emplace_back(offset[m.begin], offset[m.end]);
    return out;
}

inline std::vector<std::pair<std::size_t, std::size_t>> string_matches(std::string_view needle, const std::string& text) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    if (needle.empty()) return out;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size()))
        out.emplace_back(at, at + needle.size());
    return out;
}

}  // namespace detail

class pre_tokenizer {
   public:
    enum class kind { split, byte_level, digits, metaspace, whitespace_split, sequence };
    enum class prepend_scheme { always, first, never };

    // `depth`: how many Sequences this one sits in (capped: tokenizer_limits::max_sequence_depth).
    static pre_tokenizer from_json(const detail::json& spec, const std::string& where, std::size_t depth = 0) {
        pre_tokenizer p;
        const std::string type = detail::type_of(spec, where);
        if (type == "Split") {
            p.type_ = kind::split;
            auto pattern = detail::pattern_field(spec, where);
            p.text_ = pattern.text;
            if (pattern.is_regex) p.regex_ = std::make_shared<regex>(pattern.text, where);
            p.behavior_ = detail::parse_behavior(detail::string_field(spec, "behavior", where), where);
            p.invert_ = detail::optional_field(spec, "invert", false, where);
        } else if (type == "ByteLevel") {
            p.type_ = kind::byte_level;
            p.add_prefix_space_ = detail::optional_field(spec, "add_prefix_space", true, where);
            if (detail::optional_field(spec, "use_regex", true, where))
                p.regex_ = std::make_shared<regex>(detail::gpt2_pattern);
        } else if (type == "Digits") {
            p.type_ = kind::digits;
            p.individual_digits_ = detail::optional_field(spec, "individual_digits", false, where);
        } else if (type == "Metaspace") {
            p.type_ = kind::metaspace;
            p.text_ = detail::optional_field<std::string>(spec, "replacement", "\xE2\x96\x81", where);
            p.prepend_ = parse_prepend_scheme(spec, where);
            p.split_ = detail::optional_field(spec, "split", true, where);
        } else if (type == "WhitespaceSplit") {
            p.type_ = kind::whitespace_split;
        } else if (type == "Sequence") {
            p.type_ = kind::sequence;
            const auto& list = detail::field(spec, "pretokenizers", where);
            if (!list.is_array()) throw detail::error_at(where, "pretokenizers must be an array");
            const std::size_t inner = detail::nested(depth, where);
            for (std::size_t i = 0; i < list.size(); ++i)
                p.children_.push_back(from_json(list[i], where + ".pretokenizers[" + std::to_string(i) + "]", inner));
        } else {
            throw detail::error_at(where, "unsupported pre_tokenizer type '" + excerpt(type) +
                                              "' (supported: Split, ByteLevel, Digits, Metaspace, WhitespaceSplit, "
                                              "Sequence)");
        }
        return p;
    }

    // Metaspace's prepend_scheme, also used by the Metaspace decoder. Older files say add_prefix_space instead.
    static prepend_scheme parse_prepend_scheme(const detail::json& spec, std::string_view where) {
        if (spec.contains("prepend_scheme") && spec.at("prepend_scheme").is_string()) {
            const auto s = spec.at("prepend_scheme").get<std::string>();
            if (s == "always") return prepend_scheme::always;
            if (s == "first") return prepend_scheme::first;
            if (s == "never") return prepend_scheme::never;
            throw detail::error_at(where, "unknown prepend_scheme '" + excerpt(s) + "'");
        }
        return detail::optional_field(spec, "add_prefix_space", true, where) ? prepend_scheme::always
                                                                              : prepend_scheme::never;
    }

    std::vector<text_piece> operator()(std::vector<text_piece> pieces) const {
        if (type_ == kind::sequence) {
            for (const auto& child : children_) pieces = child(std::move(pieces));
            return pieces;
        }
        std::vector<text_piece> out;
        for (auto& piece : pieces) apply(std::move(piece), out);
        return out;
    }

   private:
    void apply(text_piece piece, std::vector<text_piece>& out) const {
        switch (type_) {
            case kind::split: {
                const auto matches = regex_ ? detail::regex_matches(*regex_, piece.text)
                                            : detail::string_matches(text_, piece.text);
                detail::split_piece(piece, matches, behavior_, invert_, out);
                return;
            }
            case kind::byte_level: {
                if (add_prefix_space_ && piece.text.rfind(' ', 0) != 0) piece.text.insert(0, 1, ' ');
                std::vector<text_piece> words;
                if (regex_) {
                    detail::split_piece(piece, detail::regex_matches(*regex_, piece.text),
                                        detail::split_behavior::isolated, false, words);
                } else if (!piece.text.empty()) {
                    words.push_back(std::move(piece));
                }
                // Every byte becomes a printable character, so the BPE vocabulary never sees raw bytes.
                for (auto& w : words) {
                    std::string mapped;
                    for (unsigned char b : w.text) utf8::append(mapped, byte_level::byte_to_char()[b]);
                    out.push_back({std::move(mapped), w.at_start});
                }
                return;
            }
            case kind::digits: {
                std::vector<std::pair<std::size_t, std::size_t>> matches;
                for (std::size_t at = 0; at < piece.text.size();) {
                    const auto s = utf8::decode(piece.text, at);
                    if (unicode::is_number(s.code_point)) matches.emplace_back(at, at + s.length);
                    at += s.length;
                }
                detail::split_piece(piece, matches,
                                    individual_digits_ ? detail::split_behavior::isolated
                                                       : detail::split_behavior::contiguous,
                                    false, out);
                return;
            }
            case kind::metaspace: {
                piece.text = replace_spaces(piece.text);
                const bool starts = piece.text.rfind(text_, 0) == 0;
                if (!starts && (prepend_ == prepend_scheme::always || (prepend_ == prepend_scheme::first && piece.at_start)))
                    piece.text.insert(0, text_);
                if (split_) {
                    detail::split_piece(piece, detail::string_matches(text_, piece.text),
                                        detail::split_behavior::merged_with_next, false, out);
                } else if (!piece.text.empty()) {
                    out.push_back(std::move(piece));
                }
                return;
            }
            case kind::whitespace_split: {
                std::vector<std::pair<std::size_t, std::size_t>> matches;
                for (std::size_t at = 0; at < piece.text.size();) {
                    const auto s = utf8::decode(piece.text, at);
                    if (unicode::is_whitespace(s.code_point)) matches.emplace_back(at, at + s.length);
                    at += s.length;
                }
                detail::split_piece(piece, matches, detail::split_behavior::removed, false, out);
                return;
            }
            case kind::sequence: break;
        }
    }

    std::string replace_spaces(const std::string& text) const {
        std::string out;
        for (char c : text) {
            if (c == ' ') out += text_;
            else out += c;
        }
        return out;
    }

    kind type_ = kind::sequence;
    std::string text_;
    std::shared_ptr<const regex> regex_;
    detail::split_behavior behavior_ = detail::split_behavior::isolated;
    bool invert_ = false, add_prefix_space_ = false, individual_digits_ = false, split_ = true;
    prepend_scheme prepend_ = prepend_scheme::always;
    std::vector<pre_tokenizer> children_;
};

}  // namespace moe::text
