// moe/precision/formats/q8_0.hpp — weight_format::q8_0: 8-bit weights in llama.cpp's Q8_0 blocks.
//
// 32 signed bytes + an fp16 scale per 32 weights of a row (1.0625 bytes per weight; the block and its quantizers
// are in precision/q8_0.hpp), quantized at load from any float checkpoint; activations are quantized to Q8_0 at
// each product's input and integer block sums scaled in fp32: what llama.cpp computes for a Q8_0 model. Matrices
// only: norms, biases and routers stay fp32, as in llama.cpp's Q8_0 files. CPU only.
#pragma once

#include <cstdint>
#include <string_view>

#include "moe/precision/format_traits.hpp"
#include "moe/precision/q8_0.hpp"

namespace moe {

template <>
struct weight_format_traits<weight_format::q8_0> {
    static constexpr std::string_view name = "q8_0";
    using storage = q8_0_block;
    using vector_storage = float;
    static constexpr std::int64_t block_width = q8_0_block_size;
    static constexpr std::int64_t block_bytes = sizeof(storage);
    static constexpr bool cpu = true, cuda = false;

    // row: (k/32) blocks → out: (k) fp32, d · q. Consecutive rows are consecutive blocks, so k may span rows.
    static void read_row(const q8_0_block* row, std::int64_t k, float* out) { dequantize_q8_0_row(row, k, out); }
    // x: (k) fp32, k a multiple of 32 → row: (k/32) blocks, llama.cpp's weight quantizer.
    static void quantize_row(const float* x, std::int64_t k, q8_0_block* row) { quantize_q8_0_row(x, k, row); }
};
static_assert(weight_format_traits<weight_format::q8_0>::block_width == weights_per_element<q8_0_block>,
              "q8_0: the block width must be the weights per element that matrix_view counts");

}  // namespace moe
