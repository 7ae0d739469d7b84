// moe/text/error.hpp — the one exception type the tokenizer throws.
//
// Messages start with what they are about (usually the tokenizer.json path), then the problem, e.g.
//   "tokenizer.json: pre_tokenizer: Split regex: unsupported construct '\d' at offset 3"
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "moe/error.hpp"

namespace moe::text {

class tokenizer_error : public error_with<std::runtime_error> {
   public:
    using error_with::error_with;
};

namespace detail {

// "<where>: <problem>"
inline tokenizer_error error_at(std::string_view where, std::string_view problem) {
    std::string message(where);
    message += ": ";
    message += problem;
    return tokenizer_error(message);
}

}  // namespace detail
}  // namespace moe::text
