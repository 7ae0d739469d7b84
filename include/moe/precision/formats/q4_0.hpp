// moe/precision/formats/q4_0.hpp — weight_format::q4_0: 4-bit weights in llama.cpp's Q4_0 blocks.
//
// 16 bytes of 4-bit values + an fp16 scale per 32 weights of a row (18 bytes per 32 weights, 4.5 bits per weight;
// the block, its dequantizer and quantizer are in precision/ggml_blocks.hpp and precision/ggml_quantizers.hpp),
// quantized at load from any float checkpoint with ggml's reference quantizer (what llama-quantize writes without an
// importance matrix). In llama.cpp its products multiply Q8_0-quantized activations. Matrices only: norms, biases
// and routers stay fp32. CPU kernels: cpu/formats/q4_0.hpp.
#pragma once

#include <cstdint>
#include <string_view>

#include "moe/precision/format_traits.hpp"
#include "moe/precision/ggml_blocks.hpp"
#include "moe/precision/ggml_quantizers.hpp"

namespace moe {

template <>
struct weight_format_traits<weight_format::q4_0> {
    static constexpr std::string_view name = "q4_0";
    using storage = q4_0_block;
    using vector_storage = float;
    static constexpr std::int64_t block_width = q4_0_block_size;
    static constexpr std::int64_t block_bytes = sizeof(storage);
    static constexpr bool cpu = true, cuda = false;

    // row: (k/32) blocks → out: (k) fp32, d · (q − 8). Consecutive rows are consecutive blocks, so k may span rows.
    static void read_row(const q4_0_block* row, std::int64_t k, float* out) { dequantize_row_q4_0(row, k, out); }
    // x: (k) fp32, k a multiple of 32 → row: (k/32) blocks, ggml's quantize_row_q4_0_ref.
    static void quantize_row(const float* x, std::int64_t k, q4_0_block* row) { quantize_row_q4_0(x, k, row); }
};
static_assert(weight_format_traits<weight_format::q4_0>::block_width == weights_per_element<q4_0_block>,
              "q4_0: the block width must be the weights per element that matrix_view counts");

}  // namespace moe
