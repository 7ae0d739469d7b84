// moe/excerpt.hpp — untrusted text echoed in an error message, capped and made printable.
//
//   throw io::checkpoint_error(path + ": tensor '" + moe::excerpt(name) + "' ...");
//
// A file may hold a 2-million-character tensor name or control bytes that rewrite the terminal; an error message
// quotes at most `max_bytes` of it (cut at a UTF-8 boundary, "…(N bytes)" appended) with control characters escaped.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace moe {

inline constexpr std::size_t excerpt_default_bytes = 80;

inline std::string excerpt(std::string_view text, std::size_t max_bytes = excerpt_default_bytes) {
    std::size_t cut = text.size() <= max_bytes ? text.size() : max_bytes;
    // Do not split a UTF-8 sequence: back up over continuation bytes (10xxxxxx) to the start of a code point.
    if (cut < text.size())
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    std::string out;
    out.reserve(cut + 24);
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < cut; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7F) {  // control bytes: shown as \xHH so the message stays one readable line
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (cut < text.size()) out += "…(" + std::to_string(text.size()) + " bytes)";
    return out;
}

}  // namespace moe
