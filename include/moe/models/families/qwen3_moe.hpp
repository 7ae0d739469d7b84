// moe/models/families/qwen3_moe.hpp — Qwen3-MoE (Qwen3MoeForCausalLM): GQA with per-head QK-norm, every layer MoE,
// sliding_window in every layer with use_sliding_window = true (transformers 5.24's Qwen3MoeConfig has no
// layer_types or max_window_layers: a config.json that has them still slides in every layer).
#pragma once

#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/families/compose.hpp"
#include "moe/models/families/qwen_common.hpp"

namespace moe {

struct qwen3_moe_config {
    int vocab_size = 0;
    int model_width = 0;
    int layers = 0;
    int heads = 0;
    int kv_heads = 0;
    int head_dim = 0;
    int expert_width = 0;  // moe_intermediate_size
    int experts = 0;       // num_experts
    int top_k = 0;         // num_experts_per_tok
    bool norm_topk_prob = true;
    bool attention_bias = false;
    bool tied_embeddings = false;
    weight_format weights = weight_format::bf16;
};

// The description of a qwen3_moe card (a class in between: GCC 12 fails on an alias of this alias otherwise).
template <qwen3_moe_config C>
struct qwen3_moe_description {
    using type = compose::gqa_moe_lm<compose::lm(model_family::qwen3_moe, C),
                                          compose::gqa(C, C.attention_bias, C.attention_bias, qk_norm_kind::per_head),
                                          compose::moe_ffn(C, compose::softmax_router(C.norm_topk_prob)), C.layers>;
};

template <qwen3_moe_config C>
using qwen3_moe = typename qwen3_moe_description<C>::type;

template <>
struct checkpoint_conventions<model_family::qwen3_moe> : default_conventions {
    static constexpr int default_kv_heads = 4;  // Qwen3MoeConfig.num_key_value_heads
    static void check_attention(hf_config& c, const attention_config& a) {
        c.expect_bool("attention_bias", a.qkv_bias, false);
    }
    static void check_moe(hf_config& c, const moe_layer_config& m) { qwen_detail::check_moe(c, m); }
    static std::int64_t sliding_window(hf_config& c, int layer) {
        return c.boolean("use_sliding_window", false) ? qwen_detail::window_of_sliding_layer(c, layer) : 0;
    }
};

}  // namespace moe
