// moe/models/families/deepseek_common.hpp — the config.json fields DeepSeek-V2 and V3 read alike.
#pragma once

#include "moe/config/moe_layer_config.hpp"
#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/hf_config.hpp"

namespace moe::deepseek_detail {

// What DeepseekV2Config / DeepseekV3Config assume for absent fields.
struct config_defaults {
    int first_k_dense_replace;
    double routed_scaling_factor;
    int n_shared_experts;
    int n_group;
    int topk_group;
};
inline constexpr config_defaults v2_defaults{0, 1.0, 2, 1, 1};
inline constexpr config_defaults v3_defaults{3, 2.5, 1, 8, 4};

// first_k_dense_replace leading dense layers, MoE after them.
template <config_defaults Defaults>
struct conventions : default_conventions {
    static void check_model(hf_config& c, int dense_layers, int /*layers*/) {
        c.expect_int({"first_k_dense_replace"}, dense_layers, Defaults.first_k_dense_replace);
        // DeepSeek's own modeling code makes layer i MoE only when i % moe_layer_freq == 0; the types (and
        // transformers) have every layer after the dense ones MoE.
        c.expect_int({"moe_layer_freq"}, 1, 1);
    }
    static void check_attention(hf_config& c, const mla_config& m) {
        // MLA expands keys and values for every head: transformers' repeat_kv needs num_key_value_heads == heads.
        c.expect_int({"num_key_value_heads"}, m.heads, m.heads, m.heads);
    }
    // > 0 and finite (0 zeroes the routed experts, a negative one flips them).
    static float routed_scaling_factor(hf_config& c) {
        return c.float_number({"routed_scaling_factor"}, Defaults.routed_scaling_factor, number_range::above(0.0));
    }
};

template <config_defaults Defaults>
void check_moe(hf_config& c, const moe_layer_config& m) {
    c.expect_int({"n_routed_experts", "num_local_experts"}, m.experts);
    c.expect_int({"moe_intermediate_size"}, m.expert_width);
    c.expect_int({"n_shared_experts"}, m.shared_experts, Defaults.n_shared_experts, 0);
    c.expect_int({"n_group"}, m.router.groups, Defaults.n_group, 1);
    c.expect_int({"topk_group"}, m.router.top_k_groups, Defaults.topk_group, 1);
}

}  // namespace moe::deepseek_detail
