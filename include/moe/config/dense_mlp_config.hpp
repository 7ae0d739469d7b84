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
    static_assert(whole_blocks<C.weights, "dense_mlp_config.model_width", C.model_width> &&
                  whole_blocks<C.weights, "dense_mlp_config.width", C.width>);
    static constexpr bool value = true;
};

}  // namespace moe
