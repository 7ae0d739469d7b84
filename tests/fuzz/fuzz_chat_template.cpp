// libFuzzer target: random conversations through the chat templates and encode_chat with the Qwen-style test
// tokenizer. Input: byte 0 picks the family, byte 1 the options; then messages separated by 0x01, each
// starting with a role byte. The contract under test: rendering either works or throws tokenizer_error (roles the
// family refuses); encode_chat never turns content into control tokens: the special tokens in its ids are
// exactly the template's own markers; no crash, no undefined behaviour. Seed corpus: corpus/fuzz_chat_template/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "moe/text/encode_chat.hpp"

namespace {

const moe::text::tokenizer& qwen() {
    static const auto tok =
        moe::text::tokenizer::from_file(std::string(MOE_FUZZ_DATA_DIR) + "/tokenizers/qwen2/tokenizer.json");
    return tok;
}

// How often `marker` occurs in the rendered text outside the content ranges.
std::size_t markup_count(const moe::text::rendered_chat& r, std::string_view marker) {
    std::size_t n = 0, at = 0;
    auto count_in = [&](std::size_t b, std::size_t e) {
        const std::string_view gap = std::string_view(r.text).substr(b, e - b);
        for (auto p = gap.find(marker); p != std::string_view::npos; p = gap.find(marker, p + marker.size())) ++n;
    };
    for (const auto& c : r.content) {
        count_in(at, c.begin);
        at = c.end;
    }
    count_in(at, r.text.size());
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    using moe::text::chat_family;
    const chat_family family = data[0] % 3 == 0 ? chat_family::qwen3
                               : data[0] % 3 == 1 ? chat_family::deepseek_r1 : chat_family::mistral;
    moe::text::chat_options options;
    options.add_generation_prompt = data[1] & 1;
    options.enable_thinking = data[1] & 2;
    static const char* roles[] = {"user", "assistant", "system", "tool"};
    std::vector<moe::text::chat_message> messages;
    const std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
    for (std::size_t at = 0; at <= rest.size();) {
        const auto end = std::min(rest.find('\x01', at), rest.size());
        const std::string_view field = rest.substr(at, end - at);
        if (!field.empty()) {
            const auto tag = static_cast<unsigned char>(field[0]);
            moe::text::chat_message m{roles[tag % 4], std::string(field.substr(1)), {}};
            if (tag & 0x80) m.reasoning_content = m.content.substr(m.content.size() / 2);
            messages.push_back(std::move(m));
        }
        at = end + 1;
    }
    try {
        const auto rendered = moe::text::render_chat(family, messages, options);
        if (rendered.text != moe::text::apply_chat_template(family, messages, options)) __builtin_trap();
        for (const auto& c : rendered.content)
            if (c.begin >= c.end || c.end > rendered.text.size()) __builtin_trap();
        const auto& tok = qwen();
        const auto ids = moe::text::encode_chat(tok, family, messages, options);
        for (const char* marker : {"<|im_start|>", "<|im_end|>", "<|endoftext|>"}) {
            const auto id = *tok.special_token_id(marker);
            const auto found = static_cast<std::size_t>(std::count(ids.begin(), ids.end(), id));
            if (found != markup_count(rendered, marker)) __builtin_trap();
        }
    } catch (const moe::text::tokenizer_error&) {
        // A conversation the family's template refuses.
    }
    return 0;
}
