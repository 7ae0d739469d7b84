// moe/models/checkpoint_conventions.hpp — how a family's Hugging Face checkpoint spells a model: tensor names and
// the config.json fields that only that family has. Each family file (moe/models/families/*.hpp) specialises
// checkpoint_conventions<its model_family>, usually by deriving from default_conventions and overriding a few
// members; the loader (moe/models/load_model.hpp) reads nothing family-specific from anywhere else.
#pragma once

#include <cstdint>
#include <string_view>

#include "moe/config/attention_config.hpp"
#include "moe/config/model_config.hpp"
#include "moe/config/moe_layer_config.hpp"
#include "moe/models/hf_config.hpp"

namespace moe {

// Tensor names of the MoE block of one decoder layer, after "model.layers.<i>.".
struct moe_tensor_names {
    std::string_view block = "mlp.";  // router "gate.weight", experts "experts.<e>.<gate>.weight", ...
    std::string_view expert_gate = "gate_proj";
    std::string_view expert_up = "up_proj";
    std::string_view expert_down = "down_proj";
    std::string_view shared_experts = "shared_experts.";  // the shared experts' SwiGLU, under `block`
};

// The conventions most families share; a family overrides what differs.
struct default_conventions {
    static constexpr moe_tensor_names moe_names{};

    // Whole-model fields beyond vocab_size, hidden_size, num_hidden_layers, tie_word_embeddings.
    // dense_layers: how many leading layers of the type are dense.
    static void check_model(hf_config&, int /*dense_layers*/) {}
    // Family-only fields of attention and MoE layers (the common ones are checked by the loader).
    static void check_attention(hf_config&, const attention_config&) {}
    static void check_attention(hf_config&, const mla_config&) {}
    static void check_moe(hf_config&, const moe_layer_config&) {}
    // sliding_window of attention_runtime: 0 (full causal attention) unless the family reads it.
    static std::int64_t sliding_window(const hf_config&) { return 0; }
    // Multiplier of the routed experts' weights (router_runtime).
    static float routed_scaling_factor(const hf_config&) { return 1.0f; }
};

template <model_family Family>
struct checkpoint_conventions {
    static_assert(Family != Family, "moe::checkpoint_conventions: this model_family has no family file — add "
                                    "moe/models/families/<family>.hpp specialising checkpoint_conventions");
};

}  // namespace moe
