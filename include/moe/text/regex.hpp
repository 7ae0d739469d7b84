// moe/text/regex.hpp — the small subset of Oniguruma regex syntax that tokenizer.json Split patterns use, matched
// over code points (std::regex has no Unicode categories).
//
// Supported: alternation, non-capturing groups (?:...), case-insensitive groups (?i:...) (ASCII letters only),
// lookahead (?=...) (?!...), classes [...] [^...] with ranges, \p{L} \p{N} \p{M} \p{P} \p{S} (and \P{...}),
// \s \S, escapes \r \n \t \f \v \xHH \uHHHH, '.', quantifiers * + ? {n} {n,} {n,m} (greedy).
// Anything else throws, naming the construct and its offset, rather than matching differently from Hugging Face.
//
// The pattern comes from a file, so matching must stay cheap for any pattern: it is compiled to a program for a Pike
// VM (threads kept in priority order, which gives the same leftmost-first match a backtracking engine like
// Oniguruma finds), whose work per input character is bounded by the program size — no recursion on the input, no
// exponential backtracking. Group nesting, repetition counts and program size are capped at construction; a step
// budget per call (steps_per_code_point per character) turns what is left of a pathological case, such as repeated
// searches rescanning the same text, into a clear error.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/text/error.hpp"
#include "moe/text/limits.hpp"
#include "moe/text/unicode.hpp"
#include "moe/text/utf8.hpp"

namespace moe::text {

class regex {
   public:
    struct match {
        std::size_t begin;
        std::size_t end;
    };

    // `where` (e.g. "tokenizer.json: pre_tokenizer") starts every error message about this pattern.
    explicit regex(std::string_view pattern, std::string where = {})
        : pattern_(utf8::decode_all(pattern)), where_(std::move(where)) {
        root_ = parse_alternation();
        if (at_ < pattern_.size()) fail("unbalanced ')'");
        compile();
    }

    // The leftmost match that starts at or after `from` (leftmost, then first alternative, as Oniguruma does).
    std::optional<match> search(std::u32string_view text, std::size_t from = 0) const {
        context c = make_context(text);
        return run(c, 0, from, false, 0);
    }

    // All non-empty, non-overlapping matches, left to right.
    std::vector<match> find_all(std::u32string_view text) const {
        context c = make_context(text);
        std::vector<match> out;
        for (std::size_t from = 0; from < text.size();) {
            auto m = run(c, 0, from, false, 0);
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

    std::size_t program_size() const { return program_.size(); }

   private:
    struct char_class {
        std::vector<std::pair<char32_t, char32_t>> ranges;
        std::vector<std::pair<unicode::category, bool>> categories;  // (category, negated)
        bool whitespace = false, not_whitespace = false, any_but_newline = false;
        bool negated = false;
        bool ignore_case = false;
        std::uint64_t ascii[2] = {0, 0};  // membership of code points 0-127, precomputed: most text is ASCII

        void precompute() {
            for (char32_t cp = 0; cp < 128; ++cp)
                if (contains_slow(cp)) ascii[cp >> 6] |= std::uint64_t{1} << (cp & 63);
        }
        bool contains(char32_t cp) const {
            if (cp < 128) return (ascii[cp >> 6] >> (cp & 63)) & 1;
            return contains_slow(cp);
        }
        bool contains_slow(char32_t cp) const {
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

    // The parsed pattern (a tree in nodes_), compiled to program_ below.
    enum class kind { chars, sequence, alternation, repeat, lookahead, negative_lookahead };
    struct node {
        kind type;
        char_class chars;
        std::vector<int> children;
        std::size_t min = 0, max = 0;
    };
    static constexpr std::size_t unbounded = static_cast<std::size_t>(-1);

    // Pike VM instructions. chars: consume one code point in classes_[x]; split: try x, then y; jump: go to x;
    // ahead / not_ahead: the lookahead body at x must (not) match here, then go on at y; done: a match (or the end of
    // a lookahead body).
    enum class op : std::uint8_t { chars, split, jump, ahead, not_ahead, done };
    struct instruction {
        op code;
        int x = 0, y = 0;
    };

    [[noreturn]] void fail(std::string_view what) const {
        throw tokenizer_error(prefix() + std::string(what) + " at offset " + std::to_string(at_));
    }
    std::string prefix() const {
        return (where_.empty() ? std::string() : where_ + ": ") + "regex '" + excerpt(utf8::encode(pattern_)) + "': ";
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
        while (!done() && peek() >= '0' && peek() <= '9') {
            n = n * 10 + (pattern_[at_++] - '0');
            if (n > regex_limits::max_repeat)
                fail("repetition count above " + std::to_string(regex_limits::max_repeat));
        }
        return n;
    }

    int parse_quantified(int atom) {
        if (done()) return atom;
        std::size_t lo = 0, hi = 0;
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
                if (hi < lo) fail("repetition {n,m} with m < n");
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
            // The parser recurses once per group level: the cap keeps a hostile pattern from exhausting the stack.
            if (++depth_ > regex_limits::max_nesting)
                fail("groups nested deeper than " + std::to_string(regex_limits::max_nesting));
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
            --depth_;
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
                else fail("unsupported Unicode property \\p{" + excerpt(utf8::encode(name)) + "}");
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

    // ---- compilation (Thompson construction; {n,m} expanded into copies) ----

    void compile() {
        for (auto& n : nodes_)
            if (n.type == kind::chars) n.chars.precompute();
        emit_node(root_, 0);
        emit({op::done});
        nodes_.clear();
        nodes_.shrink_to_fit();
        cache_entry_closure();
    }

    // Every search adds the closure of the entry point at each start position; when it holds no lookahead (so
    // it does not depend on the position) its leaves are listed once, per ASCII character only those that can
    // consume it (threads that would die at once are left out; a 'done' leaf is always kept).
    void cache_entry_closure() {
        std::vector<int> leaves, stack{0};
        std::vector<bool> seen(program_.size(), false);
        while (!stack.empty()) {
            const int at = stack.back();
            stack.pop_back();
            if (seen[static_cast<std::size_t>(at)]) continue;
            seen[static_cast<std::size_t>(at)] = true;
            const instruction& in = program_[static_cast<std::size_t>(at)];
            switch (in.code) {
                case op::jump: stack.push_back(in.x); break;
                case op::split:
                    stack.push_back(in.y);
                    stack.push_back(in.x);
                    break;
                case op::ahead:
                case op::not_ahead: return;  // depends on the position: walk it each time
                case op::chars:
                case op::done: leaves.push_back(at); break;
            }
        }
        entry_cached_ = true;
        entry_any_ = leaves;
        for (char32_t cp = 0; cp < 128; ++cp)
            for (int leaf : leaves) {
                const instruction& in = program_[static_cast<std::size_t>(leaf)];
                if (in.code == op::done || classes_[static_cast<std::size_t>(in.x)].contains(cp))
                    entry_ascii_[cp].push_back(leaf);
            }
    }

    int emit(instruction in) {
        if (program_.size() >= regex_limits::max_program)
            throw tokenizer_error(prefix() + "pattern too large (more than " +
                                  std::to_string(regex_limits::max_program) +
                                  " instructions once repetitions are expanded)");
        program_.push_back(in);
        return static_cast<int>(program_.size() - 1);
    }
    int here() const { return static_cast<int>(program_.size()); }

    // Recursion follows the tree, whose depth the parser capped (max_nesting groups, three nodes per level).
    void emit_node(int id, std::size_t lookahead_depth) {
        const node& n = nodes_[static_cast<std::size_t>(id)];
        switch (n.type) {
            case kind::chars: {
                const int cls = chars_index(id);
                emit({op::chars, cls});
                return;
            }
            case kind::sequence:
                for (int child : n.children) emit_node(child, lookahead_depth);
                return;
            case kind::alternation: {
                std::vector<int> exits;
                for (std::size_t i = 0; i + 1 < n.children.size(); ++i) {
                    const int split = emit({op::split});
                    program_[static_cast<std::size_t>(split)].x = here();
                    emit_node(n.children[i], lookahead_depth);
                    exits.push_back(emit({op::jump}));
                    program_[static_cast<std::size_t>(split)].y = here();
                }
                emit_node(n.children.back(), lookahead_depth);
                for (int e : exits) program_[static_cast<std::size_t>(e)].x = here();
                return;
            }
            case kind::repeat: {
                for (std::size_t i = 0; i < n.min; ++i) emit_node(n.children[0], lookahead_depth);
                if (n.max == unbounded) {  // loop: split(body, out); body; jump back
                    const int split = emit({op::split});
                    program_[static_cast<std::size_t>(split)].x = here();
                    emit_node(n.children[0], lookahead_depth);
                    emit({op::jump, split});
                    program_[static_cast<std::size_t>(split)].y = here();
                } else {  // (x(x(x)?)?)?: each optional copy may skip straight to the end
                    std::vector<int> skips;
                    for (std::size_t i = n.min; i < n.max; ++i) {
                        skips.push_back(emit({op::split}));
                        program_[static_cast<std::size_t>(skips.back())].x = here();
                        emit_node(n.children[0], lookahead_depth);
                    }
                    for (int s : skips) program_[static_cast<std::size_t>(s)].y = here();
                }
                return;
            }
            case kind::lookahead:
            case kind::negative_lookahead: {
                const int check = emit({n.type == kind::lookahead ? op::ahead : op::not_ahead});
                program_[static_cast<std::size_t>(check)].x = here();
                lookahead_levels_ = std::max(lookahead_levels_, lookahead_depth + 1);
                emit_node(n.children[0], lookahead_depth + 1);
                emit({op::done});
                program_[static_cast<std::size_t>(check)].y = here();
                return;
            }
        }
    }

    // A class is stored once however often {n,m} copies it.
    int chars_index(int node_id) {
        const auto [it, added] = class_of_node_.try_emplace(node_id, static_cast<int>(classes_.size()));
        if (added) classes_.push_back(std::move(nodes_[static_cast<std::size_t>(node_id)].chars));
        return it->second;
    }

    // ---- matching ----

    // Threads of one step: program counters in priority order (a sparse set, so adding one twice is a no-op),
    // with the start of the match each one is building.
    struct thread_list {
        std::vector<int> order;
        std::vector<std::uint32_t> slot;
        std::vector<std::size_t> start;
        std::size_t size = 0;

        void reset(std::size_t program) {
            if (slot.size() < program) order.resize(program), slot.resize(program), start.resize(program);
            size = 0;
        }
        bool has(int pc) const {
            const auto s = slot[static_cast<std::size_t>(pc)];
            return s < size && order[s] == pc;
        }
        void insert(int pc, std::size_t from) {
            slot[static_cast<std::size_t>(pc)] = static_cast<std::uint32_t>(size);
            order[size++] = pc;
            start[static_cast<std::size_t>(pc)] = from;
        }
    };
    struct level {  // scratch of one run: the main search is level 0, a lookahead inside it level 1, ...
        thread_list current, next;
        std::vector<int> stack;
    };
    struct context {
        std::u32string_view text;
        std::size_t steps = 0, budget = 0;
        std::vector<level> levels;
    };

    context make_context(std::u32string_view text) const {
        context c;
        c.text = text;
        c.budget = (regex_limits::steps_per_code_point + program_.size()) * (text.size() + 1);
        c.levels.resize(lookahead_levels_ + 1);  // sized once: runs at deeper levels never reallocate it
        return c;
    }

    // Runs the program from `entry`. Unanchored: the leftmost-first match starting at or after `from`.
    // Anchored (lookahead bodies): whether a match starts exactly at `from`.
    std::optional<match> run(context& c, int entry, std::size_t from, bool anchored, std::size_t depth) const {
        level& l = c.levels[depth];
        thread_list* current = &l.current;
        thread_list* next = &l.next;
        current->reset(program_.size());
        next->reset(program_.size());
        std::optional<match> found;
        const std::size_t n = c.text.size();
        for (std::size_t pos = from; pos <= n; ++pos) {
            // A new thread per start position, behind the older (leftmost) ones, until something has matched.
            if (!found && (pos == from || !anchored)) {
                if (entry == 0 && entry_cached_) {
                    const auto& leaves = pos < n && c.text[pos] < 128 ? entry_ascii_[c.text[pos]] : entry_any_;
                    for (int leaf : leaves)
                        if (!current->has(leaf)) current->insert(leaf, pos);
                    c.steps += leaves.size();
                } else {
                    add(c, *current, entry, pos, pos, depth);
                }
            }
            if (current->size == 0) {
                if (found || anchored) break;
                continue;
            }
            next->size = 0;
            for (std::size_t i = 0; i < current->size; ++i) {
                const int pc = current->order[i];
                const instruction& in = program_[static_cast<std::size_t>(pc)];
                if (in.code == op::done) {
                    found = match{current->start[static_cast<std::size_t>(pc)], pos};
                    if (anchored) return found;
                    break;  // threads after this one have lower priority: drop them
                }
                if (in.code == op::chars && pos < n && classes_[static_cast<std::size_t>(in.x)].contains(c.text[pos]))
                    add(c, *next, pc + 1, pos + 1, current->start[static_cast<std::size_t>(pc)], depth);
            }
            std::swap(current, next);
            if (pos == n) break;
        }
        return found;
    }

    // Adds the thread at `pc` and everything reachable from it without consuming input, depth first in priority
    // order, on an explicit stack. A program counter already in the list is skipped: that is also what stops an
    // empty loop iteration.
    void add(context& c, thread_list& list, int pc, std::size_t pos, std::size_t start, std::size_t depth) const {
        std::vector<int>& stack = c.levels[depth].stack;
        stack.clear();
        stack.push_back(pc);
        while (!stack.empty()) {
            const int at = stack.back();
            stack.pop_back();
            if (list.has(at)) continue;
            list.insert(at, start);
            if (++c.steps > c.budget) over_budget(c.text.size());
            const instruction& in = program_[static_cast<std::size_t>(at)];
            switch (in.code) {
                case op::jump: stack.push_back(in.x); break;
                case op::split:
                    stack.push_back(in.y);
                    stack.push_back(in.x);
                    break;
                case op::ahead:
                case op::not_ahead: {
                    const bool matched = run(c, in.x, pos, true, depth + 1).has_value();
                    if (matched == (in.code == op::ahead)) stack.push_back(in.y);
                    break;
                }
                case op::chars:
                case op::done: break;
            }
        }
    }

    [[noreturn]] void over_budget(std::size_t characters) const {
        throw tokenizer_error(prefix() + "matching " + std::to_string(characters) + " characters took more than " +
                              std::to_string(regex_limits::steps_per_code_point + program_.size()) +
                              " steps per character; the pattern is too costly for this input");
    }

    std::u32string pattern_;
    std::string where_;
    std::size_t at_ = 0, depth_ = 0;
    bool ignore_case_ = false;
    std::vector<node> nodes_;
    int root_ = 0;
    std::unordered_map<int, int> class_of_node_;
    std::vector<char_class> classes_;
    std::vector<instruction> program_;
    std::size_t lookahead_levels_ = 0;
    bool entry_cached_ = false;
    std::vector<int> entry_any_, entry_ascii_[128];
};

}  // namespace moe::text
