// moe/io/gguf_error.hpp — the exception GGUF reading throws, and the helpers that word its messages.
//
// A gguf_error is a checkpoint_error (so one handler catches both formats). Every message starts with the file,
// then the metadata key or tensor it is about (echoed through moe::excerpt: both come from the file), then the
// problem:
//   "…/model.gguf: metadata 'qwen3moe.block_count' is a string, expected an integer"
//   "…/model.gguf: tensor 'blk.0.ffn_down_exps.weight': offset 4096, expected 8192 (…)"
#pragma once

#include <string>
#include <string_view>

#include "moe/excerpt.hpp"
#include "moe/io/checkpoint_error.hpp"

namespace moe::io {

class gguf_error : public checkpoint_error {
   public:
    using checkpoint_error::checkpoint_error;
};

namespace detail {

// "<file>: <problem>"
inline gguf_error gguf_file_error(std::string_view file, std::string_view problem) {
    return gguf_error(file_error(file, problem).what());  // checkpoint_error.hpp's message, as a gguf_error
}

// "<file>: metadata '<key>' <problem>" — the problem reads on from the key: "is a string, expected an integer".
inline gguf_error gguf_key_error(std::string_view file, std::string_view key, std::string_view problem) {
    std::string message = moe::excerpt(file, path_excerpt_bytes);
    message += ": metadata '";
    message += moe::excerpt(key);
    message += "' ";
    message += problem;
    return gguf_error(message);
}

// "<file>: tensor '<name>': <problem>"
inline gguf_error gguf_tensor_error(std::string_view file, std::string_view tensor, std::string_view problem) {
    return gguf_error(tensor_error(file, tensor, problem).what());
}

}  // namespace detail
}  // namespace moe::io
