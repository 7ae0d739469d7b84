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
//   q8_0              8-bit weights in llama.cpp's Q8_0 blocks (32 signed bytes + an fp16 scale, 1.0625 bytes per
//                     weight; quantized at load from any float checkpoint, see precision/q8_0.hpp), activations
//                     quantized to Q8_0 at each product's input, integer block sums scaled in fp32: what llama.cpp
//                     computes for a Q8_0 model. Matrices only: norms, biases and routers stay fp32
//                     (vector_storage_t). Matrix widths must be multiples of 32. CPU only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "moe/precision/half_types.hpp"
#include "moe/precision/q8_0.hpp"

namespace moe {

enum class weight_format { fp32, bf16, fp16, bf16_compute, q8_0 };

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

template <>
struct storage_of<weight_format::q8_0> {
    using type = q8_0_block;
};

// The C++ type the weight matrices of the given format are stored in (one element per weight, or per block).
template <weight_format Format>
using storage_t = typename storage_of<Format>::type;

// The type of the vectors (norm weights, biases) that go with matrices stored as Storage: Storage itself, except
// for block-quantized storage, whose vectors stay fp32 (as in llama.cpp's Q8_0 files).
template <class Storage>
using vector_element_t = std::conditional_t<std::is_same_v<Storage, q8_0_block>, float, Storage>;

// The same by format: the model's vectors in the given format.
template <weight_format Format>
using vector_storage_t = vector_element_t<storage_t<Format>>;

// True for formats whose matrix widths must be multiples of a block (q8_0: 32).
constexpr bool is_block_quantized(weight_format format) { return format == weight_format::q8_0; }

// Bytes one matrix weight takes (q8_0: 34 bytes per 32 weights).
constexpr double bytes_per_weight(weight_format format) {
    switch (format) {
        case weight_format::fp32: return 4.0;
        case weight_format::q8_0: return 34.0 / 32.0;
        default: return 2.0;
    }
}
// Bytes `weights` matrix weights take in the format (rounded to whole bytes).
constexpr std::int64_t weight_bytes(weight_format format, std::int64_t weights) {
    return static_cast<std::int64_t>(static_cast<double>(weights) * bytes_per_weight(format) + 0.5);
}
// Bytes one vector element (norm weight, bias) takes.
constexpr double bytes_per_vector_element(weight_format format) {
    return is_block_quantized(format) ? 4.0 : bytes_per_weight(format);
}

constexpr std::string_view name_of(weight_format format) {
    switch (format) {
        case weight_format::fp32: return "fp32";
        case weight_format::bf16: return "bf16";
        case weight_format::fp16: return "fp16";
        case weight_format::bf16_compute: return "bf16_compute";
        case weight_format::q8_0: return "q8_0";
    }
    return "?";
}

}  // namespace moe
