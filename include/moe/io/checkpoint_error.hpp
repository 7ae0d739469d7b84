// moe/io/checkpoint_error.hpp — the one exception type checkpoint reading throws.
//
// Every message starts with the file it is about, then the tensor (when there is one), then the problem, e.g.
//   "model-00002.safetensors: tensor 'model.layers.0.mlp.gate.weight': data offsets [100, 900) run past the data
//    section (512 bytes)"
// Both come from files (a shard name from an index, a tensor name from a header) and are echoed through
// moe::excerpt: a tensor name capped at 80 bytes, a path at path_excerpt_bytes, control bytes escaped.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "moe/error.hpp"
#include "moe/excerpt.hpp"

namespace moe::io {

class checkpoint_error : public error_with<std::runtime_error> {
   public:
    using error_with::error_with;
};

// Paths are longer than names but still capped: a shard name in an index file is file-controlled text.
inline constexpr std::size_t path_excerpt_bytes = 512;

namespace detail {

// "<file>: <problem>"
inline checkpoint_error file_error(std::string_view file, std::string_view problem) {
    std::string message = moe::excerpt(file, path_excerpt_bytes);
    message += ": ";
    message += problem;
    return checkpoint_error(message);
}

// "<file>: tensor '<name>': <problem>"
inline checkpoint_error tensor_error(std::string_view file, std::string_view tensor, std::string_view problem) {
    std::string message = moe::excerpt(file, path_excerpt_bytes);
    message += ": tensor '";
    message += moe::excerpt(tensor);
    message += "': ";
    message += problem;
    return checkpoint_error(message);
}

}  // namespace detail
}  // namespace moe::io
