// moe/decoding/loop_detection.hpp — does a branch repeat itself? (greedy branches of reasoning models can loop)
//
// A branch loops when, for some period n in [1, max_ngram], its last max(n · repeats, min_span) generated tokens
// are periodic with period n (the same n-gram `repeats` or more times in a row). Example: max_ngram 4, repeats 3,
// min_span 0 — the tokens 5 6 7 5 6 7 5 6 7 loop at the ninth token.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

namespace moe::decoding {

struct loop_options {
    int max_ngram = 16;  // longest repeated n-gram looked for; 0 turns detection off
    int repeats = 4;     // copies in a row that make a loop
    int min_span = 32;   // and at least this many tokens (so "1 1 1 1" in an answer is not a loop)
};

inline bool is_looping(std::span<const std::int32_t> generated, const loop_options& options) {
    if (options.max_ngram <= 0 || options.repeats < 2) return false;
    const std::size_t size = generated.size();
    for (std::size_t n = 1; n <= static_cast<std::size_t>(options.max_ngram); ++n) {
        const std::size_t span = std::max(n * static_cast<std::size_t>(options.repeats),
                                          static_cast<std::size_t>(std::max(options.min_span, 0)));
        if (span > size) continue;
        bool periodic = true;
        for (std::size_t i = size - span + n; i < size && periodic; ++i) periodic = generated[i] == generated[i - n];
        if (periodic) return true;
    }
    return false;
}

}  // namespace moe::decoding
