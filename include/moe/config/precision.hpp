// moe/config/precision.hpp — weight storage formats and their C++ storage types.
//
// Weights are stored in one of these formats; every product accumulates in fp32, and router logits,
// softmax and sigmoid are always computed in fp32 from fp32 router weights (they are tiny: experts × width).
#pragma once

#include <cstddef>
#include <string_view>

#include "moe/precision/half_types.hpp"

namespace moe {

enum class weight_format { fp32, bf16, fp16 };

template <weight_format Format>
struct storage_of;
template <>
struct storage_of<weight_format::fp32> {
    using type = float;
};
template <>
struct storage_of<weight_format::bf16> {
    using type = bfloat16;
};
template <>
struct storage_of<weight_format::fp16> {
    using type = float16;
};

// The C++ type one stored weight has in the given format.
template <weight_format Format>
using storage_t = typename storage_of<Format>::type;

constexpr std::size_t bytes_per_weight(weight_format format) { return format == weight_format::fp32 ? 4 : 2; }

constexpr std::string_view name_of(weight_format format) {
    switch (format) {
        case weight_format::fp32: return "fp32";
        case weight_format::bf16: return "bf16";
        case weight_format::fp16: return "fp16";
    }
    return "?";
}

}  // namespace moe
