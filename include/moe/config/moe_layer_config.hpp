// moe/config/moe_layer_config.hpp — an MoE layer described like a model card, as one compile-time value.
//
//   using mixtral_8x7b_moe = moe::cpu::moe_layer<moe::moe_layer_config{
//       .model_width = 4096, .expert_width = 14336, .experts = 8, .top_k = 2,
//       .router = moe::routers::mixtral, .weights = moe::weight_format::bf16}>;
//
// Token counts are run-time values. Invalid combinations are rejected at compile time by
// moe::check_moe_layer_config (moe/config/validate.hpp) with a message that says what to change.
#pragma once

#include <cstdint>

#include "moe/config/precision.hpp"
#include "moe/config/router_config.hpp"

namespace moe {

struct moe_layer_config {
    int model_width = 0;   // D: hidden_size
    int expert_width = 0;  // F: moe_intermediate_size (Mixtral: intermediate_size)
    int experts = 0;       // E: num_local_experts / num_experts / n_routed_experts
    int top_k = 0;         // K: num_experts_per_tok

    // Shared experts run on every token. They are computed as one SwiGLU FFN of width
    // shared_experts × shared_expert_width, exactly as DeepSeek and Qwen2-MoE store them.
    int shared_experts = 0;
    int shared_expert_width = 0;      // width of one shared expert; 0 means expert_width
    bool shared_expert_gate = false;  // Qwen2-MoE: shared output × sigmoid(w_sg · x)

    router_config router = routers::mixtral;
    weight_format weights = weight_format::fp32;

    // S: total width of the shared FFN (0 when the layer has no shared expert).
    constexpr int shared_width() const {
        return shared_experts * (shared_expert_width != 0 ? shared_expert_width : expert_width);
    }
    constexpr int experts_per_group() const { return router.groups > 0 ? experts / router.groups : 0; }

    // Parameters: all of them, and those one token touches (router + top_k experts + shared).
    constexpr std::int64_t total_parameters() const {
        return router_parameters() + std::int64_t{experts} * ffn_parameters(expert_width) +
               ffn_parameters(shared_width()) + (shared_expert_gate ? model_width : 0);
    }
    constexpr std::int64_t active_parameters() const {
        return router_parameters() + std::int64_t{top_k} * ffn_parameters(expert_width) +
               ffn_parameters(shared_width()) + (shared_expert_gate ? model_width : 0);
    }
    constexpr std::int64_t ffn_parameters(int width) const { return 3 * std::int64_t{model_width} * width; }
    constexpr std::int64_t router_parameters() const {
        return std::int64_t{experts} * model_width + (router.selection_bias ? experts : 0);
    }

    friend constexpr bool operator==(const moe_layer_config&, const moe_layer_config&) = default;
};

}  // namespace moe
