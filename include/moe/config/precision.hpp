// moe/config/precision.hpp — weight storage formats and their C++ storage types.
//
// Weights are stored in one of these formats; every product accumulates in fp32, and router logits,
// softmax and sigmoid are always computed in fp32 from fp32 router weights (they are tiny: experts × width).
//
//   fp32, bf16, fp16  weights widened to fp32 in registers, fp32 activations: the products transformers computes
//                     in fp32 on the same (rounded) weights — the exact, reference-parity formats.
//   bf16_compute      bf16 weights (the same BF16 checkpoint bytes, used in place) and activations rounded to bf16
//                     at each product's input, fp32 accumulation: what llama.cpp's BF16 path and transformers with
//                     torch_dtype=bfloat16 compute. On CPUs with AVX512-BF16 one vdpbf16ps does 32 multiply-adds,
//                     twice the fp32 FMA rate, so prefill runs up to ~2x faster; results differ from the fp32-
//                     activation formats by bf16 rounding of the activations (~0.4% relative). CPU only.
#pragma once

#include <cstddef>
#include <string_view>

#include "moe/precision/half_types.hpp"

namespace moe {

enum class weight_format { fp32, bf16, fp16, bf16_compute };

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
template <>
struct storage_of<weight_format::bf16_compute> {
    using type = bfloat16_compute;
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
        case weight_format::bf16_compute: return "bf16_compute";
    }
    return "?";
}

}  // namespace moe
