// moe/models/families/compose.hpp — the building blocks family files compose their descriptions from: a card's
// values turned into layer configs, and the two shapes of model the families share.
#pragma once

#include <type_traits>

#include "moe/config/attention_config.hpp"
#include "moe/config/dense_mlp_config.hpp"
#include "moe/config/model_config.hpp"
#include "moe/config/moe_layer_config.hpp"
#include "moe/config/router_config.hpp"
#include "moe/model/description.hpp"

namespace moe::compose {

template <class Card>
constexpr causal_lm_config lm(model_family family, const Card& c) {
    return {.family = family,
            .vocab_size = c.vocab_size,
            .model_width = c.model_width,
            .tied_embeddings = c.tied_embeddings,
            .weights = c.weights};
}

constexpr router_config softmax_router(bool normalize) {
    return {.scoring = scoring_function::softmax, .normalize_top_k = normalize};
}

template <class Card>
constexpr attention_config gqa(const Card& c, bool qkv_bias, bool output_bias, qk_norm_kind qk_norm) {
    return {.model_width = c.model_width,
            .heads = c.heads,
            .kv_heads = c.kv_heads,
            .head_dim = c.head_dim,
            .qkv_bias = qkv_bias,
            .output_bias = output_bias,
            .qk_norm = qk_norm,
            .weights = c.weights};
}

template <class Card>
constexpr mla_config mla(const Card& c, bool bias, bool interleave) {
    return {.model_width = c.model_width,
            .heads = c.heads,
            .q_lora_rank = c.q_lora_rank,
            .kv_lora_rank = c.kv_lora_rank,
            .qk_nope_head_dim = c.qk_nope_head_dim,
            .qk_rope_head_dim = c.qk_rope_head_dim,
            .v_head_dim = c.v_head_dim,
            .bias = bias,
            .rope_interleave = interleave,
            .weights = c.weights};
}

// The routed experts of a card (+ shared experts: count, width of one, gated or not).
template <class Card>
constexpr moe_layer_config moe_ffn(const Card& c, router_config router, int shared_experts = 0,
                                   int shared_expert_width = 0, bool shared_expert_gate = false) {
    return {.model_width = c.model_width,
            .expert_width = c.expert_width,
            .experts = c.experts,
            .top_k = c.top_k,
            .shared_experts = shared_experts,
            .shared_expert_width = shared_expert_width,
            .shared_expert_gate = shared_expert_gate,
            .router = router,
            .weights = c.weights};
}

template <class Card>
constexpr dense_mlp_config dense_ffn(const Card& c) {
    return {.model_width = c.model_width, .width = c.dense_width, .weights = c.weights};
}

// Every layer: grouped-query attention + an MoE feed-forward (Mixtral, Qwen2/3-MoE, OLMoE).
template <causal_lm_config Lm, attention_config Attention, moe_layer_config Moe, int Layers>
using gqa_moe_lm =
    model::causal_lm<Lm, model::stack<model::decoder<model::gqa<Attention>, model::moe_ffn<Moe>>, Layers>>;

namespace detail {
template <causal_lm_config Lm, class DenseLayer, int DenseCount, class MoeLayer, int MoeCount>
struct with_dense_prefix {
    using type = std::conditional_t<DenseCount == 0, model::causal_lm<Lm, model::stack<MoeLayer, MoeCount>>,
                                    model::causal_lm<Lm, model::stack<DenseLayer, (DenseCount > 0 ? DenseCount : 1)>,
                                                     model::stack<MoeLayer, MoeCount>>>;
};
}  // namespace detail

// MLA in every layer; the first DenseCount layers dense, the rest MoE (DeepSeek's first_k_dense_replace).
template <causal_lm_config Lm, mla_config Attention, dense_mlp_config Dense, int DenseCount, moe_layer_config Moe,
          int MoeCount>
using mla_lm_with_dense_prefix =
    typename detail::with_dense_prefix<Lm, model::decoder<model::mla<Attention>, model::dense_ffn<Dense>>, DenseCount,
                                       model::decoder<model::mla<Attention>, model::moe_ffn<Moe>>, MoeCount>::type;

}  // namespace moe::compose
