// moe/models/checkpoint_conventions.hpp — how a family's Hugging Face checkpoint spells a model: tensor names and
// the config.json fields that only that family has. Each family file (moe/models/families/*.hpp) specialises
// checkpoint_conventions<its model_family>, usually by deriving from default_conventions and overriding a few
// members; the loader (moe/models/load_model.hpp) reads nothing family-specific from anywhere else.
#pragma once

#include <cstdint>
#include <optional>
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

// The conventions most families share; a family overrides what differs. Run-time readers record a bad value in
// the hf_config (reported with every other problem) and return a usable fallback.
struct default_conventions {
    static constexpr moe_tensor_names moe_names{};

    // What transformers' config class assumes when config.json leaves a field out.
    static constexpr double default_rope_theta = 10000.0;
    static constexpr double default_rms_norm_eps = 1e-6;
    static constexpr int default_kv_heads = 0;  // num_key_value_heads absent: 0 = num_attention_heads

    // Whole-model fields beyond vocab_size, hidden_size, num_hidden_layers, tie_word_embeddings, hidden_act.
    // dense_layers: how many leading layers of the type are dense; layers: how many layers the type has.
    static void check_model(hf_config&, int /*dense_layers*/, int /*layers*/) {}
    // Family-only fields of attention and MoE layers (the common ones are checked by the loader).
    static void check_attention(hf_config&, const attention_config&) {}
    static void check_attention(hf_config&, const mla_config&) {}
    static void check_moe(hf_config&, const moe_layer_config&) {}
    // sliding_window of attention_runtime for decoder layer `layer`: 0 (full causal attention) unless the family
    // reads it.
    static std::int64_t sliding_window(hf_config&, int /*layer*/) { return 0; }
    // clip_qkv of attention_runtime: 0 (off) unless the family reads it (transformers ignores it elsewhere).
    static float clip_qkv(hf_config&) { return 0.0f; }
    // Multiplier of the routed experts' weights (router_runtime).
    static float routed_scaling_factor(hf_config&) { return 1.0f; }
};

// rms_norm_eps: > 0, finite as a float (a negative eps takes the square root of a negative mean).
template <class Conventions>
float rms_norm_eps(hf_config& c) {
    return c.float_number({"rms_norm_eps"}, Conventions::default_rms_norm_eps, number_range::above(0.0));
}

// Reads every run-time field once, so that a wrong type or a value out of range is reported together with the
// compile-time mismatches, before any tensor is read. `layers`: the model type's decoder layer count.
template <class Conventions>
void check_runtime_fields(hf_config& c, int layers) {
    (void)c.integer({"max_position_embeddings"}, std::nullopt, 1);
    (void)rms_norm_eps<Conventions>(c);
    (void)c.rope(Conventions::default_rope_theta);
    (void)Conventions::clip_qkv(c);
    (void)Conventions::routed_scaling_factor(c);
    for (int layer = 0; layer < layers; ++layer) (void)Conventions::sliding_window(c, layer);
}

template <model_family Family>
struct checkpoint_conventions {
    static_assert(Family != Family, "moe::checkpoint_conventions: this model_family has no family file — add "
                                    "moe/models/families/<family>.hpp specialising checkpoint_conventions");
};

}  // namespace moe
