// libFuzzer target: random request bodies through moe_server's request checking (moe/serving/openai_request.hpp)
// with the Qwen-style test tokenizer. Byte 0 picks the endpoint; the rest is the body. The contract under test: a
// body is either refused with an api_error of status 400 or 404, or becomes a request that can run — a non-empty
// prompt of valid ids shorter than the context, 1 ≤ max_tokens with prompt + max_tokens within the context, 1 to -np
// branches. Any other exception, a crash or undefined behaviour is a bug. Seed corpus: corpus/fuzz_openai_request/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "moe/serving/openai_request.hpp"

namespace {

const moe::text::tokenizer& qwen() {
    static const auto tok =
        moe::text::tokenizer::from_file(std::string(MOE_FUZZ_DATA_DIR) + "/tokenizers/qwen2/tokenizer.json");
    return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const auto kind = data[0] % 2 ? moe::serving::endpoint::completions : moe::serving::endpoint::chat;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    const moe::serving::served_model served{.id = "m", .context = 64, .parallel_sequences = 3,
                                            .chat = moe::text::chat_family::qwen3, .stop_tokens = {}};
    try {
        const auto p = moe::serving::parse_request(body, kind, served, qwen(), 1);
        const auto P = std::int64_t(p.core.prompt.size());
        const auto V = std::int64_t(qwen().vocab_size());
        bool ok = P >= 1 && P < served.context && p.core.generation.max_tokens >= 1 &&
                  P + p.core.generation.max_tokens <= served.context;
        for (const std::int32_t id : p.core.prompt) ok = ok && id >= 0 && id < V;
        const int branches = p.core.mode == moe::serving::request_mode::cot_decoding ? p.core.cot_k
                                                                                     : p.core.generation.branches;
        ok = ok && branches >= 1 && branches <= served.parallel_sequences;
        if (!ok) std::abort();
    } catch (const moe::serving::api_error& e) {
        if (e.status() != 400 && e.status() != 404) std::abort();
    }
    return 0;
}
