// libFuzzer target: random text encoded with the real tokenizers in tests/data/tokenizers (the first byte picks
// one), with special tokens parsed and split, then decoded again.
// The contract under test: encode never fails on any bytes (invalid UTF-8 becomes U+FFFD), its ids all name
// tokens, and for the byte-level tokenizers decoding the split_special_tokens encoding gives back the text
// (after U+FFFD replacement and NFC where the tokenizer normalizes). Seed corpus: corpus/fuzz_tokenizer_encode/.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "moe/text/tokenizer.hpp"
#include "moe/text/unicode.hpp"

namespace {

struct entry {
    const char* name;
    bool round_trips;  // byte-level BPE without added prefix spaces: decode(encode(x)) == normalized x
    bool nfc;
};
constexpr std::array<entry, 6> entries{{{"qwen2", true, true},
                                        {"deepseek_v3", true, false},
                                        {"llama3_style", true, false},
                                        {"gpt2_style", false, false},
                                        {"llama_sentencepiece", false, false},
                                        {"mistral_metaspace", false, false}}};

const moe::text::tokenizer& tokenizer_for(std::size_t index) {
    static const auto all = [] {
        std::vector<moe::text::tokenizer> out;
        for (const auto& e : entries)
            out.push_back(moe::text::tokenizer::from_file(std::string(MOE_FUZZ_DATA_DIR) + "/tokenizers/" + e.name +
                                                          "/tokenizer.json"));
        return out;
    }();
    return all[index];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t which = data[0] % entries.size();
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    const auto& tok = tokenizer_for(which);
    const auto ids = tok.encode(text);
    for (const auto id : ids)
        if (!tok.id_to_token(id)) __builtin_trap();
    moe::text::encode_options literal;
    literal.split_special_tokens = true;
    literal.add_special_tokens = false;
    const auto plain = tok.encode(text, literal);
    for (const auto id : plain)
        if (tok.is_special(id)) __builtin_trap();  // special-token text must not become a control token
    const std::string decoded = tok.decode(plain);
    if (entries[which].round_trips) {
        std::string expected = moe::text::utf8::lossy(text);
        if (entries[which].nfc) expected = moe::text::unicode::nfc(expected);
        if (decoded != expected) __builtin_trap();
    }
    return 0;
}
