// libFuzzer target: the tokenizer regex engine on a random pattern and subject (split at the first NUL byte).
// The contract under test: a pattern either compiles or throws tokenizer_error; matching either returns sorted,
// non-empty, non-overlapping matches inside the subject or throws tokenizer_error (step budget); no crash, no
// stack overflow, no undefined behaviour, no hang. Seed corpus: corpus/fuzz_regex/ (real tokenizer patterns).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "moe/text/regex.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto cut = input.find('\0');
    const std::string_view pattern = input.substr(0, cut);
    const std::string_view subject = cut == std::string_view::npos ? std::string_view() : input.substr(cut + 1);
    try {
        const moe::text::regex re(pattern, "fuzz");
        const std::u32string text = moe::text::utf8::decode_all(subject);
        std::size_t last = 0;
        for (const auto& m : re.find_all(text)) {
            if (m.begin < last || m.end <= m.begin || m.end > text.size()) __builtin_trap();
            last = m.end;
        }
        if (const auto first = re.search(text)) {
            if (first->begin > first->end || first->end > text.size()) __builtin_trap();
        }
    } catch (const moe::text::tokenizer_error&) {
        // Unsupported or too costly pattern: refused with a message.
    }
    return 0;
}
