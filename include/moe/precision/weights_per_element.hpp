// moe/precision/weights_per_element.hpp — how many weights one element of a storage type holds: 1, or a block's
// worth for block-quantized storage (q8_0_block: 32). matrix_view (tensor/matrix_view.hpp) counts columns in weights
// and reads this to find a row's elements; each block format specialises it beside its block type.
#pragma once

#include <cstdint>

namespace moe {

template <class T>
inline constexpr std::int64_t weights_per_element = 1;

}  // namespace moe
