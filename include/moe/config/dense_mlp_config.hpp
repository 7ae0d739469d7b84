// moe/config/dense_mlp_config.hpp — a dense SwiGLU feed-forward as a value: down( silu(gate · x) ⊙ (up · x) ).
//
// DeepSeek's first `first_k_dense_replace` layers (DeepseekV3MLP with intermediate_size) and any other dense FFN.
#pragma once

#include "moe/config/precision.hpp"

namespace moe {

struct dense_mlp_config {
    int model_width = 0;  // D: hidden_size
    int width = 0;        // F: intermediate_size
    weight_format weights = weight_format::fp32;

    friend constexpr bool operator==(const dense_mlp_config&, const dense_mlp_config&) = default;
};

template <dense_mlp_config C>
struct check_dense_mlp_config {
    static_assert(C.model_width >= 1, "dense_mlp_config: set .model_width (hidden_size) to at least 1");
    static_assert(C.width >= 1, "dense_mlp_config: set .width (intermediate_size) to at least 1");
    static_assert(!is_block_quantized(C.weights) || (C.model_width % 32 == 0 && C.width % 32 == 0),
                  "dense_mlp_config: weight_format::q8_0 stores 32-weight blocks along each matrix row, so the inner width of "
                  "every matrix must be a multiple of 32 — model_width and width; use bf16 or fp32 for this shape");
    static constexpr bool value = true;
};

}  // namespace moe
