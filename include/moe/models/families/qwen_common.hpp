// moe/models/families/qwen_common.hpp — the config.json fields Qwen2-MoE and Qwen3-MoE read alike.
#pragma once

#include <cstdint>

#include "moe/config/moe_layer_config.hpp"
#include "moe/models/hf_config.hpp"

namespace moe::qwen_detail {

inline void check_moe(hf_config& c, const moe_layer_config& m) {
    c.expect_int({"num_experts", "num_local_experts"}, m.experts);
    c.expect_int({"moe_intermediate_size"}, m.expert_width);
    c.expect_bool("norm_topk_prob", m.router.normalize_top_k, false);
    c.expect_int({"decoder_sparse_step"}, 1, 1);
    c.expect_empty_list("mlp_only_layers", "every layer of this family type is an MoE layer");
}

// Qwen applies sliding_window only when use_sliding_window is true.
inline std::int64_t sliding_window(const hf_config& c) {
    const auto use_window = c.json().find("use_sliding_window");
    const bool on = use_window != c.json().end() && use_window->is_boolean() && use_window->get<bool>();
    return on ? c.integer({"sliding_window"}, 0) : 0;
}

}  // namespace moe::qwen_detail
