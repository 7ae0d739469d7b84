// moe/text.hpp — tokenizers and chat formatting: Hugging Face tokenizer.json (BPE models), streaming
// detokenization, and the chat templates of the reasoning families. Needs nlohmann_json (link moe::io).
//
//   auto tok = moe::text::tokenizer::from_file("tokenizer.json");
//   std::vector<std::int32_t> ids = tok.encode("Hello world");
//   std::string text = tok.decode(ids);
#pragma once

#include "moe/text/chat_template.hpp"
#include "moe/text/encode_chat.hpp"
#include "moe/text/incremental_decoder.hpp"
#include "moe/text/tokenizer.hpp"
