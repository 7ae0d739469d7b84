// moe/precision/formats/k_quants.hpp — weight_format::q4_k, q5_k, q6_k: llama.cpp's 4-, 5- and 6-bit K-quant
// super-blocks of 256 weights.
//
//   q4_k  144 bytes per 256 weights (4.5 bits): 8 sub-blocks of 32 with 6-bit scales and mins, 4-bit values
//   q5_k  176 bytes per 256 weights (5.5 bits): as q4_k with a fifth bit per weight
//   q6_k  210 bytes per 256 weights (6.5625 bits): 16 sub-blocks of 16 with int8 scales, 6-bit values
// (blocks and dequantizers: precision/ggml_blocks.hpp; quantizers: precision/ggml_quantizers.hpp). Quantized at load
// from any float checkpoint with ggml's reference quantizers (what llama-quantize writes without an importance
// matrix); in llama.cpp their products multiply Q8_K-quantized activations. A matrix's inner width must be a multiple
// of 256. Matrices only: norms, biases and routers stay fp32. CPU kernels: cpu/formats/k_quants.hpp.
#pragma once

#include <cstdint>
#include <string_view>

#include "moe/precision/format_traits.hpp"
#include "moe/precision/ggml_blocks.hpp"
#include "moe/precision/ggml_quantizers.hpp"

namespace moe {

namespace detail {
// What the three K-quant formats' traits share: a super-block of qk_k weights, fp32 vectors, CPU only.
template <class Block>
struct k_quant_traits_base {
    using storage = Block;
    using vector_storage = float;
    static constexpr std::int64_t block_width = qk_k;
    static constexpr std::int64_t block_bytes = sizeof(Block);
    static constexpr bool cpu = true, cuda = false;
};
}  // namespace detail

template <>
struct weight_format_traits<weight_format::q4_k> : detail::k_quant_traits_base<q4_k_block> {
    static constexpr std::string_view name = "q4_k";
    // row: (k/256) blocks → out: (k) fp32. Consecutive rows are consecutive blocks, so k may span rows.
    static void read_row(const q4_k_block* row, std::int64_t k, float* out) { dequantize_row_q4_k(row, k, out); }
    // x: (k) fp32, k a multiple of 256 → row: (k/256) blocks, ggml's quantize_row_q4_K_ref.
    static void quantize_row(const float* x, std::int64_t k, q4_k_block* row) { quantize_row_q4_k(x, k, row); }
};

template <>
struct weight_format_traits<weight_format::q5_k> : detail::k_quant_traits_base<q5_k_block> {
    static constexpr std::string_view name = "q5_k";
    // row: (k/256) blocks → out: (k) fp32.
    static void read_row(const q5_k_block* row, std::int64_t k, float* out) { dequantize_row_q5_k(row, k, out); }
    // x: (k) fp32, k a multiple of 256 → row: (k/256) blocks, ggml's quantize_row_q5_K_ref.
    static void quantize_row(const float* x, std::int64_t k, q5_k_block* row) { quantize_row_q5_k(x, k, row); }
};

template <>
struct weight_format_traits<weight_format::q6_k> : detail::k_quant_traits_base<q6_k_block> {
    static constexpr std::string_view name = "q6_k";
    // row: (k/256) blocks → out: (k) fp32.
    static void read_row(const q6_k_block* row, std::int64_t k, float* out) { dequantize_row_q6_k(row, k, out); }
    // x: (k) fp32, k a multiple of 256 → row: (k/256) blocks, ggml's quantize_row_q6_K_ref.
    static void quantize_row(const float* x, std::int64_t k, q6_k_block* row) { quantize_row_q6_k(x, k, row); }
};

static_assert(weight_format_traits<weight_format::q4_k>::block_width == weights_per_element<q4_k_block> &&
                  weight_format_traits<weight_format::q5_k>::block_width == weights_per_element<q5_k_block> &&
                  weight_format_traits<weight_format::q6_k>::block_width == weights_per_element<q6_k_block>,
              "k-quants: the block width must be the weights per element that matrix_view counts");

}  // namespace moe
