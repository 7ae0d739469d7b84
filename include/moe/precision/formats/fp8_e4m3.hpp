// moe/precision/formats/fp8_e4m3.hpp — weight_format::fp8_e4m3: DeepSeek-V3/R1's fp8 weights with block scales.
//
// 128 e4m3fn codes + an fp32 scale per 128 weights of a row (132 bytes per 128 weights; the block and its
// quantizer are in precision/fp8_e4m3.hpp). An fp8 checkpoint (F8_E4M3 + `<name>_scale_inv`) is read into it code
// for code (io/fp8_blocks.hpp); float tensors — a DeepSeek release's bf16 embedding and LM head, or any float
// checkpoint — are quantized at load with DeepSeek's per-block rule. Activations stay fp32: products decode the
// codes to fp32 and apply each block's scale to its 128-weight partial sum (cpu/formats/fp8_e4m3.hpp). Norms,
// biases and routers stay fp32. CPU only.
#pragma once

#include <cstdint>
#include <string_view>

#include "moe/precision/format_traits.hpp"
#include "moe/precision/fp8_e4m3.hpp"

namespace moe {

template <>
struct weight_format_traits<weight_format::fp8_e4m3> {
    static constexpr std::string_view name = "fp8_e4m3";
    using storage = fp8_e4m3_block;
    using vector_storage = float;
    static constexpr std::int64_t block_width = fp8_block_size;
    static constexpr std::int64_t block_bytes = sizeof(storage);
    static constexpr bool cpu = true, cuda = false;

    // row: (k/128) blocks → out: (k) fp32, decode(q) · scale. Consecutive rows are consecutive blocks.
    static void read_row(const fp8_e4m3_block* row, std::int64_t k, float* out) { dequantize_fp8_e4m3_row(row, k, out); }
    // x: (k) fp32, k a multiple of 128 → row: (k/128) blocks, scale = amax / 448 per block.
    static void quantize_row(const float* x, std::int64_t k, fp8_e4m3_block* row) { quantize_fp8_e4m3_row(x, k, row); }
};
static_assert(weight_format_traits<weight_format::fp8_e4m3>::block_width == weights_per_element<fp8_e4m3_block>,
              "fp8_e4m3: the block width must be the weights per element that matrix_view counts");

}  // namespace moe
