// moe/models/families/olmoe.hpp — OLMoE (OlmoeForCausalLM): QK-norm over the whole projection, optional clip_qkv,
// no renormalisation of the top-k in released configs.
#pragma once

#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/families/compose.hpp"

namespace moe {

struct olmoe_config {
    int vocab_size = 0;
    int model_width = 0;
    int layers = 0;
    int heads = 0;
    int kv_heads = 0;
    int head_dim = 0;
    int expert_width = 0;  // intermediate_size
    int experts = 0;       // num_experts
    int top_k = 0;         // num_experts_per_tok
    bool norm_topk_prob = false;
    bool attention_bias = false;
    bool tied_embeddings = false;
    weight_format weights = weight_format::bf16;
};

// The description of a olmoe card (a class in between: GCC 12 fails on an alias of this alias otherwise).
template <olmoe_config C>
struct olmoe_description {
    using type = compose::gqa_moe_lm<compose::lm(model_family::olmoe, C),
                                      compose::gqa(C, C.attention_bias, C.attention_bias, qk_norm_kind::whole_projection),
                                      compose::moe_ffn(C, compose::softmax_router(C.norm_topk_prob)), C.layers>;
};

template <olmoe_config C>
using olmoe = typename olmoe_description<C>::type;

template <>
struct checkpoint_conventions<model_family::olmoe> : default_conventions {
    static constexpr double default_rms_norm_eps = 1e-5;  // OlmoeConfig's default

    static void check_attention(hf_config& c, const attention_config& a) {
        c.expect_bool("attention_bias", a.qkv_bias, false);
    }
    static void check_moe(hf_config& c, const moe_layer_config& m) {
        c.expect_int({"num_experts", "num_local_experts"}, m.experts);
        c.expect_int({"intermediate_size"}, m.expert_width);
        c.expect_bool("norm_topk_prob", m.router.normalize_top_k, false);
    }
    // clip_qkv: null = off; otherwise > 0 (transformers clamps to [-clip, clip]: 0 would zero q, k and v).
    // sliding_window is not read: transformers' OLMoE builds a plain causal mask.
    static float clip_qkv(hf_config& c) { return c.float_number({"clip_qkv"}, 0.0, number_range::above(0.0)); }
};

}  // namespace moe
