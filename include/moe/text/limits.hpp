// moe/text/limits.hpp — what a tokenizer.json may ask of the loader (a file from the internet is untrusted input).
//
// Each limit is far above what real tokenizers use and bounds a resource a hostile file could otherwise exhaust;
// going over one is a tokenizer_error naming the file, the field and the value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace moe::text {

struct tokenizer_limits {
    // [ and { nested in the JSON text (real files: under 10). Copying and walking parsed JSON recurse per level.
    static constexpr std::size_t max_json_depth = 256;
    // Sequence pre-tokenizers / normalizers / decoders / post-processors inside each other (real files: 1).
    static constexpr std::size_t max_sequence_depth = 64;
    // Token ids are int32 (what encode returns and models index with).
    static constexpr std::int64_t max_id = 2147483647;
    // The id space must be dense: largest id < 2 * (number of tokens) + id_slack, so that an id of 10^9 cannot make
    // the loader allocate gigabytes for a 3-token vocabulary.
    static constexpr std::int64_t id_slack = 1024;
    // One added token's content (real files: under 100 bytes). Matching reads up to this many bytes per input byte.
    static constexpr std::size_t max_added_token_bytes = 1024;
    // All added tokens' contents together (real files: under 1 MB, e.g. 32k image tokens); bounds the match trie,
    // at most 12 bytes per content byte.
    static constexpr std::size_t max_added_tokens_total_bytes = std::size_t{8} << 20;
};

// Limits of the Split / Replace regex engine (moe/text/regex.hpp); real patterns: nesting 2, < 100 instructions.
struct regex_limits {
    static constexpr std::size_t max_nesting = 64;    // groups inside groups
    static constexpr std::size_t max_repeat = 1000;   // n and m in {n,m}
    static constexpr std::size_t max_program = 5000;  // instructions once {n,m} is expanded
    // Matching budget of one find_all / search call: (steps_per_code_point + program size) thread steps per input
    // character. Real patterns need at most 16 on any input tried (runs of spaces, newlines, quotes, digits).
    static constexpr std::size_t steps_per_code_point = 256;
};

}  // namespace moe::text
