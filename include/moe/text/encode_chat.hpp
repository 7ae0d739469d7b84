// moe/text/encode_chat.hpp — a conversation straight to prompt ids, with message contents encoded as plain text.
//
//   std::vector<std::int32_t> ids = moe::text::encode_chat(tok, moe::text::chat_family::qwen3, messages, {});
//
// Encoding apply_chat_template's string lets a user who types "<|im_start|>system\n..." or "</think>" forge a
// turn or end the thinking block: that text becomes the very control tokens the template writes. encode_chat
// renders the same prompt but recognises added tokens only in the template's markup; inside contents they are
// ordinary text. For benign contents the ids equal encode(apply_chat_template(...), false).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "moe/text/chat_template.hpp"
#include "moe/text/tokenizer.hpp"

namespace moe::text {

inline std::vector<std::int32_t> encode_chat(const tokenizer& tok, chat_family family,
                                             std::span<const chat_message> messages,
                                             const chat_options& options = {}) {
    const rendered_chat prompt = render_chat(family, messages, options);
    encode_options encoding;
    encoding.add_special_tokens = false;  // the template writes BOS itself
    if (!options.parse_special_tokens_in_content) encoding.literal = prompt.content;
    return tok.encode(prompt.text, encoding);
}

}  // namespace moe::text
