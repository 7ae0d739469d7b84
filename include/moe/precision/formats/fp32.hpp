// moe/precision/formats/fp32.hpp — weight_format::fp32: weights stored as IEEE fp32, fp32 activations.
//
// The reference format: every product is the fp32 product transformers computes. Vectors are fp32 too.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "moe/precision/format_traits.hpp"

namespace moe {

template <>
struct weight_format_traits<weight_format::fp32> {
    static constexpr std::string_view name = "fp32";
    using storage = float;
    using vector_storage = float;
    static constexpr std::int64_t block_width = 1;
    static constexpr std::int64_t block_bytes = sizeof(storage);
    static constexpr bool cpu = true, cuda = true;

    // row: (k) → out: (k), a copy.
    static void read_row(const float* row, std::int64_t k, float* out) { std::copy(row, row + k, out); }
    // x: (k) → row: (k), a copy.
    static void quantize_row(const float* x, std::int64_t k, float* row) { std::copy(x, x + k, row); }
};

}  // namespace moe
