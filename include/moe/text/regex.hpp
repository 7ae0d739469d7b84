// moe/text/regex.hpp — the small subset of Oniguruma regex syntax that tokenizer.json Split patterns use, matched
// with backtracking over code points (std::regex has no Unicode categories).
//
// Supported: alternation, non-capturing groups (?:...), case-insensitive groups (?i:...) (ASCII letters only),
// lookahead (?=...) (?!...), classes [...] [^...] with ranges, \p{L} \p{N} \p{M} \p{P} \p{S} (and \P{...}),
// \s \S, escapes \r \n \t \f \v \xHH \uHHHH, '.', quantifiers * + ? {n} {n,} {n,m} (greedy).
// Anything else throws, naming the construct and its offset, rather than matching differently from Hugging Face.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moe/text/error.hpp"
#include "moe/text/unicode.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text {

class regex {
   public:
    struct match {
        std::size_t begin;
        std::size_t end;
    };

    explicit regex(std::string_view pattern) : pattern_(utf8::decode_all(pattern)) {
        root_ = parse_alternation();
        if (at_ < pattern_.size()) fail("unbalanced ')'");
    }

    // The leftmost match that starts at or after `from` (leftmost, then first alternative, as Oniguruma does).
    std::optional<match> search(std::u32string_view text, std::size_t from = 0) const {
        for (std::size_t start = from; start <= text.size(); ++start) {
            std::size_t end = 0;
            if (match_node(root_, text, start, [&](std::size_t e) {
                    end = e;
                    return true;
                }))
                return match{start, end};
        }
        return std::nullopt;
    }

    // All non-empty, non-overlapping matches, left to right.
    std::vector<match> find_all(std::u32string_view text) const {
        std::vector<match> out;
        for (std::size_t from = 0; from < text.size();) {
            auto m = search(text, from);
            if (!m) break;
            if (m->end == m->begin) {
                from = m->begin + 1;
                continue;
            }
            out.push_back(*m);
            from = m->end;
        }
        return out;
    }

   private:
    struct char_class {
        std::vector<std::pair<char32_t, char32_t>> ranges;
        std::vector<std::pair<unicode::category, bool>> categories;  // (category, negated)
        bool whitespace = false, not_whitespace = false, any_but_newline = false;
        bool negated = false;
        bool ignore_case = false;

        bool contains(char32_t cp) const {
            bool in = (whitespace && unicode::is_whitespace(cp)) || (not_whitespace && !unicode::is_whitespace(cp)) ||
                      (any_but_newline && cp != '\n');
            for (const auto& [cat, neg] : categories) in = in || (unicode::is_in(cat, cp) != neg);
            for (const auto& [lo, hi] : ranges) {
                in = in || (cp >= lo && cp <= hi);
                if (ignore_case && cp < 0x80 && ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')) {
                    const char32_t other = cp ^ 0x20;
                    in = in || (other >= lo && other <= hi);
                }
            }
            return in != negated;
        }
    };

    enum class kind { chars, sequence, alternation, repeat, lookahead, negative_lookahead };
    struct node {
        kind type;
        char_class chars;
        std::vector<int> children;
        std::size_t min = 0, max = 0;
    };
    using continuation = std::function<bool(std::size_t)>;

    [[noreturn]] void fail(std::string_view what) const {
        throw tokenizer_error("regex '" + utf8::encode(pattern_) + "': " + std::string(what) + " at offset " +
                              std::to_string(at_));
    }
    bool done() const { return at_ >= pattern_.size(); }
    char32_t peek() const { return pattern_[at_]; }
    int add(node n) {
        nodes_.push_back(std::move(n));
        return static_cast<int>(nodes_.size() - 1);
    }

    int parse_alternation() {
        std::vector<int> branches{parse_sequence()};
        while (!done() && peek() == '|') {
            ++at_;
            branches.push_back(parse_sequence());
        }
        if (branches.size() == 1) return branches[0];
        return add({kind::alternation, {}, std::move(branches)});
    }

    int parse_sequence() {
        std::vector<int> items;
        while (!done() && peek() != '|' && peek() != ')') items.push_back(parse_quantified(parse_atom()));
        return add({kind::sequence, {}, std::move(items)});
    }

    std::size_t parse_number() {
        if (done() || peek() < '0' || peek() > '9') fail("expected a number in {}");
        std::size_t n = 0;
        while (!done() && peek() >= '0' && peek() <= '9') n = n * 10 + (pattern_[at_++] - '0');
        return n;
    }

    int parse_quantified(int atom) {
        if (done()) return atom;
        std::size_t lo = 0, hi = 0;
        const std::size_t unbounded = static_cast<std::size_t>(-1);
        switch (peek()) {
            case '*': lo = 0, hi = unbounded, ++at_; break;
            case '+': lo = 1, hi = unbounded, ++at_; break;
            case '?': lo = 0, hi = 1, ++at_; break;
            case '{':
                ++at_;
                lo = hi = parse_number();
                if (!done() && peek() == ',') {
                    ++at_;
                    hi = (!done() && peek() == '}') ? unbounded : parse_number();
                }
                if (done() || peek() != '}') fail("expected '}'");
                ++at_;
                break;
            default: return atom;
        }
        if (!done() && (peek() == '?' || peek() == '+')) fail("lazy and possessive quantifiers are not supported");
        return add({kind::repeat, {}, {atom}, lo, hi});
    }

    int parse_atom() {
        const char32_t c = pattern_[at_++];
        if (c == '(') {
            bool saved_case = ignore_case_;
            kind wrap = kind::sequence;
            if (!done() && peek() == '?') {
                ++at_;
                if (done()) fail("unterminated group");
                const char32_t g = pattern_[at_++];
                if (g == 'i' && !done() && peek() == ':') {
                    ++at_;
                    ignore_case_ = true;
                } else if (g == '=') {
                    wrap = kind::lookahead;
                } else if (g == '!') {
                    wrap = kind::negative_lookahead;
                } else if (g != ':') {
                    fail("unsupported group syntax");
                }
            }
            const int inner = parse_alternation();
            ignore_case_ = saved_case;
            if (done() || peek() != ')') fail("missing ')'");
            ++at_;
            if (wrap == kind::sequence) return inner;
            return add({wrap, {}, {inner}});
        }
        if (c == ')' || c == '*' || c == '+' || c == '?' || c == '{') fail("unexpected quantifier or ')'");
        char_class cls;
        cls.ignore_case = ignore_case_;
        if (c == '[') {
            parse_class(cls);
        } else if (c == '.') {
            cls.any_but_newline = true;
        } else if (c == '\\') {
            parse_escape(cls, false);
        } else if (c == '^' || c == '$') {
            fail("anchors are not supported");
        } else {
            cls.ranges.emplace_back(c, c);
        }
        return add({kind::chars, std::move(cls), {}});
    }

    // After a backslash. Returns the literal code point when the escape is a single character (for ranges).
    std::optional<char32_t> parse_escape(char_class& cls, bool in_class) {
        if (done()) fail("pattern ends with '\\'");
        const char32_t e = pattern_[at_++];
        auto literal = [&](char32_t cp) {
            cls.ranges.emplace_back(cp, cp);
            return std::optional<char32_t>(cp);
        };
        switch (e) {
            case 'r': return literal('\r');
            case 'n': return literal('\n');
            case 't': return literal('\t');
            case 'f': return literal('\f');
            case 'v': return literal('\v');
            case 's': cls.whitespace = true; return std::nullopt;
            case 'S': cls.not_whitespace = true; return std::nullopt;
            case 'x': return literal(parse_hex(2));
            case 'u': return literal(parse_hex(4));
            case 'p':
            case 'P': {
                if (done() || peek() != '{') fail("expected '{' after \\p");
                ++at_;
                std::u32string name;
                while (!done() && peek() != '}') name += pattern_[at_++];
                if (done()) fail("unterminated \\p{...}");
                ++at_;
                const bool negated = e == 'P';
                if (name == U"L") cls.categories.emplace_back(unicode::category::letter, negated);
                else if (name == U"N") cls.categories.emplace_back(unicode::category::number, negated);
                else if (name == U"M") cls.categories.emplace_back(unicode::category::mark, negated);
                else if (name == U"P") cls.categories.emplace_back(unicode::category::punctuation, negated);
                else if (name == U"S") cls.categories.emplace_back(unicode::category::symbol, negated);
                else fail("unsupported Unicode property \\p{" + utf8::encode(name) + "}");
                return std::nullopt;
            }
            default:
                if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
                    fail(std::string("unsupported escape '\\") + static_cast<char>(e) + "'");
                (void)in_class;
                return literal(e);  // escaped punctuation
        }
    }

    char32_t parse_hex(int digits) {
        char32_t v = 0;
        for (int i = 0; i < digits; ++i) {
            if (done()) fail("short hex escape");
            const char32_t h = pattern_[at_++];
            int d = (h >= '0' && h <= '9') ? int(h - '0') : (h >= 'a' && h <= 'f') ? int(h - 'a' + 10)
                    : (h >= 'A' && h <= 'F') ? int(h - 'A' + 10) : -1;
            if (d < 0) fail("bad hex digit");
            v = v * 16 + static_cast<char32_t>(d);
        }
        return v;
    }

    void parse_class(char_class& cls) {
        if (!done() && peek() == '^') {
            cls.negated = true;
            ++at_;
        }
        bool first = true;
        while (true) {
            if (done()) fail("unterminated '['");
            char32_t c = pattern_[at_++];
            if (c == ']' && !first) return;
            if (c == '[') fail("nested classes are not supported");
            first = false;
            std::optional<char32_t> lo;
            if (c == '\\') {
                lo = parse_escape(cls, true);
            } else {
                cls.ranges.emplace_back(c, c);
                lo = c;
            }
            // A range a-b (a '-' before ']' is literal).
            if (lo && at_ + 1 < pattern_.size() && peek() == '-' && pattern_[at_ + 1] != ']') {
                ++at_;
                char32_t hi = pattern_[at_++];
                if (hi == '\\') {
                    char_class tmp;
                    auto h = parse_escape(tmp, true);
                    if (!h) fail("bad range end");
                    hi = *h;
                }
                if (hi < *lo) fail("reversed range");
                cls.ranges.back().second = hi;
            }
        }
    }

    // Continuation-passing backtracking: k(end) is asked whether the rest of the pattern matches from `end`.
    bool match_node(int id, std::u32string_view text, std::size_t pos, const continuation& k) const {
        const node& n = nodes_[static_cast<std::size_t>(id)];
        switch (n.type) {
            case kind::chars: return pos < text.size() && n.chars.contains(text[pos]) && k(pos + 1);
            case kind::sequence: return match_sequence(n, 0, text, pos, k);
            case kind::alternation:
                for (int child : n.children)
                    if (match_node(child, text, pos, k)) return true;
                return false;
            case kind::lookahead:
                return match_node(n.children[0], text, pos, [](std::size_t) { return true; }) && k(pos);
            case kind::negative_lookahead:
                return !match_node(n.children[0], text, pos, [](std::size_t) { return true; }) && k(pos);
            case kind::repeat: {
                const node& child = nodes_[static_cast<std::size_t>(n.children[0])];
                if (child.type == kind::chars) {
                    // Fast path for the common "class+" case: count greedily, then give back one at a time.
                    std::size_t count = 0;
                    while (count < n.max && pos + count < text.size() && child.chars.contains(text[pos + count]))
                        ++count;
                    for (std::size_t c = count + 1; c-- > n.min;)
                        if (k(pos + c)) return true;
                    return false;
                }
                return match_repeat(n, 0, text, pos, k);
            }
        }
        return false;
    }

    bool match_sequence(const node& n, std::size_t i, std::u32string_view text, std::size_t pos,
                        const continuation& k) const {
        if (i == n.children.size()) return k(pos);
        return match_node(n.children[i], text, pos,
                          [&](std::size_t next) { return match_sequence(n, i + 1, text, next, k); });
    }

    bool match_repeat(const node& n, std::size_t count, std::u32string_view text, std::size_t pos,
                      const continuation& k) const {
        if (count < n.max && match_node(n.children[0], text, pos, [&](std::size_t next) {
                return next != pos && match_repeat(n, count + 1, text, next, k);
            }))
            return true;
        return count >= n.min && k(pos);
    }

    std::u32string pattern_;
    std::size_t at_ = 0;
    bool ignore_case_ = false;
    std::vector<node> nodes_;
    int root_ = 0;
};

}  // namespace moe::text
