// moe/text/unicode.hpp — the Unicode facts the tokenizer needs: general categories (\p{L}, \p{N}, ...),
// White_Space, and NFC normalization. Data comes from unicode_tables.hpp (generated from Python's unicodedata).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "moe/text/unicode_tables.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text::unicode {

enum class category { letter, mark, number, punctuation, symbol };

namespace detail {

template <std::size_t N>
constexpr bool in_ranges(const tables::code_point_range (&ranges)[N], char32_t cp) {
    const auto* it = std::upper_bound(std::begin(ranges), std::end(ranges), cp,
                                      [](char32_t c, const tables::code_point_range& r) { return c < r.first; });
    return it != std::begin(ranges) && cp <= std::prev(it)->last;
}

}  // namespace detail

inline bool is_letter(char32_t cp) {
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    return detail::in_ranges(tables::letter, cp);
}
inline bool is_number(char32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return detail::in_ranges(tables::number, cp);
}
inline bool is_mark(char32_t cp) { return cp >= 0x300 && detail::in_ranges(tables::mark, cp); }
inline bool is_punctuation(char32_t cp) { return detail::in_ranges(tables::punctuation, cp); }
inline bool is_symbol(char32_t cp) { return detail::in_ranges(tables::symbol, cp); }

inline bool is_in(category c, char32_t cp) {
    switch (c) {
        case category::letter: return is_letter(cp);
        case category::mark: return is_mark(cp);
        case category::number: return is_number(cp);
        case category::punctuation: return is_punctuation(cp);
        case category::symbol: return is_symbol(cp);
    }
    return false;
}

// The White_Space property (what Oniguruma's \s and Rust's char::is_whitespace use).
inline constexpr bool is_whitespace(char32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

// ---------------------------------------------------------------------------------------------------------------
// NFC: canonical decomposition, canonical ordering, canonical composition (UAX #15), Hangul done arithmetically.
// ---------------------------------------------------------------------------------------------------------------
namespace detail {

inline constexpr char32_t hangul_s = 0xAC00, hangul_l = 0x1100, hangul_v = 0x1161, hangul_t = 0x11A7;
inline constexpr char32_t hangul_l_count = 19, hangul_v_count = 21, hangul_t_count = 28;
inline constexpr char32_t hangul_n_count = hangul_v_count * hangul_t_count, hangul_s_count = hangul_l_count * hangul_n_count;

inline std::uint8_t combining_class(char32_t cp) {
    if (cp < 0x300) return 0;
    const auto& runs = tables::combining_class;
    const auto* it = std::upper_bound(std::begin(runs), std::end(runs), cp,
                                      [](char32_t c, const tables::combining_class_run& r) { return c < r.first; });
    if (it == std::begin(runs) || cp > std::prev(it)->last) return 0;
    return std::prev(it)->value;
}

inline void decompose(char32_t cp, std::u32string& out) {
    if (cp >= hangul_s && cp < hangul_s + hangul_s_count) {
        const char32_t s = cp - hangul_s;
        out += hangul_l + s / hangul_n_count;
        out += hangul_v + (s % hangul_n_count) / hangul_t_count;
        if (s % hangul_t_count != 0) out += hangul_t + s % hangul_t_count;
        return;
    }
    const auto& table = tables::canonical_decomposition;
    const auto* it = std::lower_bound(std::begin(table), std::end(table), cp,
                                      [](const tables::decomposition& d, char32_t c) { return d.code_point < c; });
    if (cp < 0xC0 || it == std::end(table) || it->code_point != cp) {
        out += cp;
        return;
    }
    decompose(it->first, out);
    if (it->second != 0) decompose(it->second, out);
}

// The primary composite of (a, b), or 0.
inline char32_t compose(char32_t a, char32_t b) {
    if (a >= hangul_l && a < hangul_l + hangul_l_count && b >= hangul_v && b < hangul_v + hangul_v_count)
        return hangul_s + ((a - hangul_l) * hangul_v_count + (b - hangul_v)) * hangul_t_count;
    if (a >= hangul_s && a < hangul_s + hangul_s_count && (a - hangul_s) % hangul_t_count == 0 && b > hangul_t &&
        b < hangul_t + hangul_t_count)
        return a + (b - hangul_t);
    const auto& table = tables::canonical_composition;
    const auto* it = std::lower_bound(std::begin(table), std::end(table), std::pair{a, b},
                                      [](const tables::composition& c, const std::pair<char32_t, char32_t>& key) {
                                          return c.first != key.first ? c.first < key.first : c.second < key.second;
                                      });
    return it != std::end(table) && it->first == a && it->second == b ? it->composed : 0;
}

}  // namespace detail

inline std::string nfc(std::string_view text) {
    // ASCII is always in NFC, and most tokenizer input is ASCII.
    if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
        return std::string(text);
    std::u32string d;
    for (char32_t cp : utf8::decode_all(text)) detail::decompose(cp, d);
    // Canonical ordering: stable-sort every run of non-starters by combining class.
    for (std::size_t i = 0; i < d.size();) {
        if (detail::combining_class(d[i]) == 0) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < d.size() && detail::combining_class(d[j]) != 0) ++j;
        std::stable_sort(d.begin() + static_cast<std::ptrdiff_t>(i), d.begin() + static_cast<std::ptrdiff_t>(j),
                         [](char32_t a, char32_t b) { return detail::combining_class(a) < detail::combining_class(b); });
        i = j;
    }
    if (d.empty()) return {};
    std::u32string out;
    out += d[0];
    std::size_t starter = 0;
    int last_class = detail::combining_class(d[0]) == 0 ? 0 : 256;
    for (std::size_t i = 1; i < d.size(); ++i) {
        const int cls = detail::combining_class(d[i]);
        const char32_t composite = detail::compose(out[starter], d[i]);
        if (composite != 0 && (last_class < cls || last_class == 0)) {
            out[starter] = composite;
            continue;
        }
        if (cls == 0) starter = out.size();
        last_class = cls;
        out += d[i];
    }
    return utf8::encode(out);
}

}  // namespace moe::text::unicode
