// libFuzzer target: random bytes loaded as a tokenizer.json, and whatever loads is used to encode and decode.
// The contract under test: any input either loads or throws a moe::error (tokenizer_error) naming the problem;
// encode / decode of what loads either work or throw a moe::error (a regex over its step budget); no crash, no
// stack overflow, no undefined behaviour, no other exception type, no hang (libFuzzer's -timeout), no huge
// allocation (-rss_limit_mb). Seed corpus: corpus/fuzz_tokenizer_json/. Build and run with run_fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "moe/text/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto tok = moe::text::tokenizer::from_json(text, "fuzz.json");
        static constexpr std::string_view inputs[] = {"Hello world, it's 2024!\n  tabs\tand <|im_start|> ",
                                                      "\xC3\xA9\xE4\xB8\x80 x"};
        for (std::string_view input : inputs) {
            const auto ids = tok.encode(input);
            (void)tok.decode(ids, true);
            moe::text::encode_options literal;
            literal.split_special_tokens = true;
            (void)tok.encode(input, literal);
        }
        std::vector<std::int32_t> every;
        for (std::int32_t id = -1; id < 64; ++id) every.push_back(id);
        (void)tok.decode(every);
        (void)tok.vocab_size();
    } catch (const moe::error&) {
        // Rejected: the expected outcome for most inputs.
    }
    return 0;
}
