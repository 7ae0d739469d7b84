// moe/text/text_range.hpp — a byte range of a text, e.g. where a chat message's content sits in a rendered prompt.
#pragma once

#include <cstddef>

namespace moe::text {

struct text_range {
    std::size_t begin = 0;  // bytes, [begin, end)
    std::size_t end = 0;
};

}  // namespace moe::text
