// moe/models/families/qwen_common.hpp — the config.json fields Qwen2-MoE and Qwen3-MoE read alike.
#pragma once

#include <cstdint>
#include <string>

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

// The window of a sliding layer: sliding_window, an integer >= 1. Qwen applies it only with use_sliding_window
// (transformers sets the window to 0 / None otherwise, which hides every key or fails).
inline std::int64_t window_of_sliding_layer(hf_config& c, int layer) {
    if (!c.boolean("use_sliding_window", false)) {
        c.record("layer " + std::to_string(layer) +
                 " is a sliding_attention layer but use_sliding_window is false (transformers then uses a window of "
                 "0, which hides every key)");
        return 0;
    }
    return c.integer({"sliding_window"}, std::nullopt, 1);
}

}  // namespace moe::qwen_detail
