// moe/decoding/answer.hpp — extracting a final answer from a branch's answer text (self-consistency, CoT-decoding).
//
//   last_number     the last number: optional '-', digits with optional ',' thousands groups, optional '.digits';
//                   normalised by dropping the commas ("1,234.5" → "1234.5", "-7" → "-7", "42." → "42")
//   regex           the last match of an ECMAScript regular expression; capture group 1 when the pattern has one
//   after_thinking  the whole answer text (the text after the thinking block), surrounding whitespace trimmed
// The span [begin, end) is where the answer lies in the text (bytes): CoT-decoding scores the tokens covering it.
#pragma once

#include <cctype>
#include <cstddef>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

#include "moe/error.hpp"
#include "moe/excerpt.hpp"

namespace moe::decoding {

enum class answer_kind { last_number, regex, after_thinking };

struct answer_rule {
    answer_kind kind = answer_kind::last_number;
    std::string pattern;  // answer_kind::regex only
};

struct extracted_answer {
    std::string value;      // normalised answer (what votes compare)
    std::size_t begin = 0;  // its bytes in the text: [begin, end)
    std::size_t end = 0;
};

inline std::optional<extracted_answer> extract_answer(std::string_view text, const answer_rule& rule) {
    auto digit = [&](std::size_t i) { return i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); };
    switch (rule.kind) {
        case answer_kind::last_number: {
            std::optional<extracted_answer> last;
            for (std::size_t i = 0; i < text.size();) {
                if (!digit(i)) {
                    ++i;
                    continue;
                }
                const std::size_t begin = (i > 0 && text[i - 1] == '-') ? i - 1 : i;
                std::size_t j = i;
                while (digit(j) || (j < text.size() && text[j] == ',' && digit(j + 1))) ++j;
                if (j < text.size() && text[j] == '.' && digit(j + 1)) {
                    ++j;
                    while (digit(j)) ++j;
                }
                std::string value;
                for (std::size_t k = begin; k < j; ++k)
                    if (text[k] != ',') value += text[k];
                last = extracted_answer{value, begin, j};
                i = j;
            }
            return last;
        }
        case answer_kind::regex: {
            // A bad pattern, or one too complex for std::regex on this text, is a library error naming it.
            try {
                const std::regex re(rule.pattern, std::regex::ECMAScript);
                const std::string s(text);
                std::optional<extracted_answer> last;
                for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it) {
                    const std::smatch& m = *it;
                    const std::size_t g = m.size() > 1 && m[1].matched ? 1 : 0;
                    last = extracted_answer{m[g].str(), static_cast<std::size_t>(m.position(g)),
                                            static_cast<std::size_t>(m.position(g) + m.length(g))};
                }
                return last;
            } catch (const std::regex_error& e) {
                throw moe::invalid_argument("answer_rule: regular expression '" + moe::excerpt(rule.pattern) +
                                            "': " + e.what());
            }
        }
        case answer_kind::after_thinking: {
            const auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
            std::size_t b = 0, e = text.size();
            while (b < e && space(text[b])) ++b;
            while (e > b && space(text[e - 1])) --e;
            if (b == e) return std::nullopt;
            return extracted_answer{std::string(text.substr(b, e - b)), b, e};
        }
    }
    return std::nullopt;
}

}  // namespace moe::decoding
