// moe/text/utf8.hpp — UTF-8 decoding and encoding with the same invalid-byte handling as Rust's
// String::from_utf8_lossy (what Hugging Face tokenizers use): every maximal invalid subsequence becomes one U+FFFD.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace moe::text::utf8 {

inline constexpr char32_t replacement_character = 0xFFFD;

// One decoded step: the code point (U+FFFD when invalid), how many bytes it used, and whether they were valid.
// `truncated` marks a valid prefix of a multi-byte character cut off by the end of the input.
struct step {
    char32_t code_point;
    std::size_t length;
    bool valid;
    bool truncated;
};

// Decodes the character starting at text[at] (at < text.size()).
inline step decode(std::string_view text, std::size_t at) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(at);
    if (lead < 0x80) return {lead, 1, true, false};
    std::size_t need = 0;
    char32_t cp = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (excludes overlongs and surrogates)
    if (lead >= 0xC2 && lead <= 0xDF) {
        need = 1, cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 2, cp = lead & 0x0F;
        if (lead == 0xE0) lo = 0xA0;
        if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 3, cp = lead & 0x07;
        if (lead == 0xF0) lo = 0x90;
        if (lead == 0xF4) hi = 0x8F;
    } else {
        return {replacement_character, 1, false, false};
    }
    std::size_t i = 1;
    for (; i <= need; ++i) {
        if (at + i >= text.size()) return {replacement_character, i, false, true};
        const unsigned char b = byte(at + i);
        const bool ok = i == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
        if (!ok) return {replacement_character, i, false, false};
        cp = (cp << 6) | (b & 0x3F);
    }
    return {cp, need + 1, true, false};
}

inline void append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

inline std::string encode(std::u32string_view code_points) {
    std::string out;
    out.reserve(code_points.size());
    for (char32_t cp : code_points) append(out, cp);
    return out;
}

// Decodes to code points; invalid bytes become U+FFFD (one per maximal invalid subsequence).
inline std::u32string decode_all(std::string_view text) {
    std::u32string out;
    out.reserve(text.size());
    for (std::size_t at = 0; at < text.size();) {
        const step s = decode(text, at);
        out += s.code_point;
        at += s.length;
    }
    return out;
}

inline bool is_valid(std::string_view text) {
    for (std::size_t at = 0; at < text.size();) {
        const step s = decode(text, at);
        if (!s.valid) return false;
        at += s.length;
    }
    return true;
}

// Rust's from_utf8_lossy: valid text is returned unchanged.
inline std::string lossy(std::string_view text) {
    if (is_valid(text)) return std::string(text);
    std::string out;
    out.reserve(text.size() + 8);
    for (std::size_t at = 0; at < text.size();) {
        const step s = decode(text, at);
        if (s.valid) {
            out.append(text.substr(at, s.length));
        } else {
            append(out, replacement_character);
        }
        at += s.length;
    }
    return out;
}

// Length of a trailing valid-but-incomplete character (0 when the text ends on a character boundary).
// Streaming holds these bytes back until the rest arrives.
inline std::size_t incomplete_tail(std::string_view text) {
    const std::size_t back = text.size() < 3 ? text.size() : 3;
    for (std::size_t n = 1; n <= back; ++n) {
        const std::size_t at = text.size() - n;
        if ((static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) continue;  // continuation byte: look further back
        const step s = decode(text, at);
        return s.truncated ? n : 0;
    }
    return 0;
}

}  // namespace moe::text::utf8
