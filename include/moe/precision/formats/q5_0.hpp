// moe/precision/formats/q5_0.hpp — weight_format::q5_0: 5-bit weights in llama.cpp's Q5_0 blocks.
//
// 16 bytes of low nibbles, 4 bytes of fifth bits and an fp16 scale per 32 weights of a row (22 bytes per 32
// weights, 5.5 bits per weight; the block, its dequantizer and quantizer are in precision/ggml_blocks.hpp and
// precision/ggml_quantizers.hpp). llama.cpp's quantizer writes Q5_0 where a K-quant file's Q4_K matrix has a width
// that is not a multiple of 256 (Qwen1.5-MoE's and DeepSeek-V2-Lite's 1408-wide experts in Q4_K_M), so such files
// read it as one of gguf_mixed's block types; a float checkpoint can also be quantized to it at load (ggml's
// reference quantizer). In llama.cpp its products multiply Q8_0-quantized activations, as Q4_0's do. Matrices
// only: norms, biases and routers stay fp32. CPU kernels: cpu/formats/q4_0.hpp (the two share them).
#pragma once

#include <cstdint>
#include <string_view>

#include "moe/precision/format_traits.hpp"
#include "moe/precision/ggml_blocks.hpp"
#include "moe/precision/ggml_quantizers.hpp"

namespace moe {

template <>
struct weight_format_traits<weight_format::q5_0> {
    static constexpr std::string_view name = "q5_0";
    using storage = q5_0_block;
    using vector_storage = float;
    static constexpr std::int64_t block_width = q5_0_block_size;
    static constexpr std::int64_t block_bytes = sizeof(storage);
    static constexpr bool cpu = true, cuda = false;

    // row: (k/32) blocks → out: (k) fp32, d · (q − 16). Consecutive rows are consecutive blocks, so k may span rows.
    static void read_row(const q5_0_block* row, std::int64_t k, float* out) { dequantize_row_q5_0(row, k, out); }
    // x: (k) fp32, k a multiple of 32 → row: (k/32) blocks, ggml's quantize_row_q5_0_ref.
    static void quantize_row(const float* x, std::int64_t k, q5_0_block* row) { quantize_row_q5_0(x, k, row); }
};
static_assert(weight_format_traits<weight_format::q5_0>::block_width == weights_per_element<q5_0_block>,
              "q5_0: the block width must be the weights per element that matrix_view counts");

}  // namespace moe
