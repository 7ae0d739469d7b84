// moe/text/byte_level.hpp — GPT-2's reversible byte <-> printable character map used by ByteLevel pre-tokenizers
// and decoders: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order.
#pragma once

#include <array>
#include <cstdint>

namespace moe::text::byte_level {

inline const std::array<char32_t, 256>& byte_to_char() {
    static const std::array<char32_t, 256> table = [] {
        std::array<char32_t, 256> t{};
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            t[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
        }
        return t;
    }();
    return table;
}

// The byte a character stands for, or -1 when the character is not in the map.
inline int char_to_byte(char32_t c) {
    static const std::array<std::int16_t, 0x144> table = [] {
        std::array<std::int16_t, 0x144> t{};
        t.fill(-1);
        for (int b = 0; b < 256; ++b) t[byte_to_char()[static_cast<std::size_t>(b)]] = static_cast<std::int16_t>(b);
        return t;
    }();
    return c < table.size() ? table[c] : -1;
}

}  // namespace moe::text::byte_level
