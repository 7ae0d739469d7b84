// moe/models/families/deepseek_common.hpp — the config.json fields DeepSeek-V2 and V3 read alike.
#pragma once

#include "moe/config/moe_layer_config.hpp"
#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/hf_config.hpp"

namespace moe::deepseek_detail {

// first_k_dense_replace leading dense layers, MoE after them.
struct conventions : default_conventions {
    static void check_model(hf_config& c, int dense_layers) { c.expect_int({"first_k_dense_replace"}, dense_layers, 0); }
    static float routed_scaling_factor(const hf_config& c) {
        return float(c.number({"routed_scaling_factor"}, 1.0));
    }
};

inline void check_moe(hf_config& c, const moe_layer_config& m) {
    c.expect_int({"n_routed_experts", "num_local_experts"}, m.experts);
    c.expect_int({"moe_intermediate_size"}, m.expert_width);
    c.expect_int({"n_shared_experts"}, m.shared_experts, 0, 0);
    c.expect_int({"n_group"}, m.router.groups, 1, 1);
    c.expect_int({"topk_group"}, m.router.top_k_groups, 1, 1);
}

}  // namespace moe::deepseek_detail
