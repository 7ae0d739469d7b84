// moe/models/families.hpp — the supported model families as configurable types.
//
// Each family has a model card (a struct of named values, field names as close to config.json as C++ allows)
// and a type template that composes the decoder from it:
//
//   constexpr moe::mixtral_config my_card{.vocab_size = 32000, .model_width = 1024, .layers = 16, ...};
//   using my_model = moe::cpu::mixtral<my_card>;
//
// moe/models/released.hpp has the cards of released checkpoints. A model of your own that fits no family is
// composed directly from moe::cpu::causal_lm, layer_stack and decoder_layer (examples/custom_model.cpp).
#pragma once

#include <type_traits>

#include "moe/config/attention_config.hpp"
#include "moe/config/model_config.hpp"
#include "moe/config/moe_layer_config.hpp"
#include "moe/cpu/attention/grouped_query_attention.hpp"
#include "moe/cpu/attention/multi_head_latent_attention.hpp"
#include "moe/cpu/causal_lm.hpp"
#include "moe/cpu/decoder_layer.hpp"
#include "moe/cpu/dense_mlp.hpp"
#include "moe/cpu/moe_layer.hpp"

namespace moe {

// Mixtral (MixtralForCausalLM): GQA, no biases, softmax top-k renormalised.
struct mixtral_config {
    int vocab_size = 0;
    int model_width = 0;   // hidden_size
    int layers = 0;        // num_hidden_layers
    int heads = 0;         // num_attention_heads
    int kv_heads = 0;      // num_key_value_heads
    int head_dim = 0;      // head_dim (hidden_size / heads when absent)
    int expert_width = 0;  // intermediate_size
    int experts = 0;       // num_local_experts
    int top_k = 0;         // num_experts_per_tok
    bool tied_embeddings = false;
    weight_format weights = weight_format::bf16;
};

// Qwen1.5-MoE / Qwen2-MoE (Qwen2MoeForCausalLM): q/k/v bias, a gated shared expert, every layer MoE.
struct qwen2_moe_config {
    int vocab_size = 0;
    int model_width = 0;
    int layers = 0;
    int heads = 0;
    int kv_heads = 0;
    int head_dim = 0;
    int expert_width = 0;         // moe_intermediate_size
    int experts = 0;              // num_experts
    int top_k = 0;                // num_experts_per_tok
    int shared_expert_width = 0;  // shared_expert_intermediate_size
    bool norm_topk_prob = false;
    bool tied_embeddings = false;
    weight_format weights = weight_format::bf16;
};

// Qwen3-MoE (Qwen3MoeForCausalLM): GQA with per-head QK-norm, every layer MoE.
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

// OLMoE (OlmoeForCausalLM): QK-norm over the whole projection, no renormalisation in released configs.
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

// How DeepSeek-V2 chooses experts (config.json topk_method).
enum class deepseek_v2_topk { greedy, group_limited_greedy };

// DeepSeek-V2 / V2-Lite (DeepseekV2ForCausalLM): MLA, first layers dense, softmax router, shared experts.
struct deepseek_v2_config {
    int vocab_size = 0;
    int model_width = 0;
    int layers = 0;
    int heads = 0;
    int q_lora_rank = 0;  // 0 = null in config.json (V2-Lite)
    int kv_lora_rank = 0;
    int qk_nope_head_dim = 0;
    int qk_rope_head_dim = 0;
    int v_head_dim = 0;
    int dense_layers = 0;  // first_k_dense_replace
    int dense_width = 0;   // intermediate_size
    int expert_width = 0;  // moe_intermediate_size
    int experts = 0;       // n_routed_experts
    int top_k = 0;         // num_experts_per_tok
    int shared_experts = 0;  // n_shared_experts
    deepseek_v2_topk topk_method = deepseek_v2_topk::greedy;
    int groups = 1;        // n_group
    int top_k_groups = 1;  // topk_group
    bool attention_bias = false;
    bool tied_embeddings = false;
    weight_format weights = weight_format::bf16;
};

// DeepSeek-V3 / R1 (DeepseekV3ForCausalLM): MLA, first layers dense, sigmoid router with selection bias and groups.
struct deepseek_v3_config {
    int vocab_size = 0;
    int model_width = 0;
    int layers = 0;
    int heads = 0;
    int q_lora_rank = 0;
    int kv_lora_rank = 0;
    int qk_nope_head_dim = 0;
    int qk_rope_head_dim = 0;
    int v_head_dim = 0;
    int dense_layers = 0;  // first_k_dense_replace
    int dense_width = 0;   // intermediate_size
    int expert_width = 0;  // moe_intermediate_size
    int experts = 0;       // n_routed_experts
    int top_k = 0;         // num_experts_per_tok
    int shared_experts = 0;
    int groups = 1;        // n_group
    int top_k_groups = 1;  // topk_group
    bool norm_topk_prob = true;
    bool attention_bias = false;
    bool rope_interleave = true;
    bool tied_embeddings = false;
    weight_format weights = weight_format::bf16;
};

}  // namespace moe

namespace moe::cpu {

namespace family_detail {

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

// Every layer: grouped-query attention + an MoE feed-forward (Mixtral, Qwen2/3-MoE, OLMoE).
template <causal_lm_config Lm, attention_config Attention, moe_layer_config Moe, int Layers>
using gqa_moe_lm = causal_lm<Lm, layer_stack<decoder_layer<grouped_query_attention<Attention>, moe_layer<Moe>>, Layers>>;

// causal_lm with an optional leading stack of dense layers (DeepSeek's first_k_dense_replace).
template <causal_lm_config Lm, class DenseLayer, int DenseCount, class MoeLayer, int MoeCount>
struct with_dense_prefix {
    using type = std::conditional_t<DenseCount == 0, causal_lm<Lm, layer_stack<MoeLayer, MoeCount>>,
                                    causal_lm<Lm, layer_stack<DenseLayer, (DenseCount > 0 ? DenseCount : 1)>,
                                              layer_stack<MoeLayer, MoeCount>>>;
};

}  // namespace family_detail

template <mixtral_config C>
using mixtral = family_detail::gqa_moe_lm<family_detail::lm(model_family::mixtral, C),
                                          family_detail::gqa(C, false, false, qk_norm_kind::none),
                                          family_detail::moe_ffn(C, routers::mixtral), C.layers>;

template <qwen2_moe_config C>
using qwen2_moe = family_detail::gqa_moe_lm<
    family_detail::lm(model_family::qwen2_moe, C), family_detail::gqa(C, true, false, qk_norm_kind::none),
    family_detail::moe_ffn(C, family_detail::softmax_router(C.norm_topk_prob), 1, C.shared_expert_width, true),
    C.layers>;

template <qwen3_moe_config C>
using qwen3_moe = family_detail::gqa_moe_lm<
    family_detail::lm(model_family::qwen3_moe, C),
    family_detail::gqa(C, C.attention_bias, C.attention_bias, qk_norm_kind::per_head),
    family_detail::moe_ffn(C, family_detail::softmax_router(C.norm_topk_prob)), C.layers>;

template <olmoe_config C>
using olmoe = family_detail::gqa_moe_lm<
    family_detail::lm(model_family::olmoe, C),
    family_detail::gqa(C, C.attention_bias, C.attention_bias, qk_norm_kind::whole_projection),
    family_detail::moe_ffn(C, family_detail::softmax_router(C.norm_topk_prob)), C.layers>;

template <deepseek_v2_config C>
using deepseek_v2 = typename family_detail::with_dense_prefix<
    family_detail::lm(model_family::deepseek_v2, C),
    decoder_layer<multi_head_latent_attention<family_detail::mla(C, C.attention_bias, true)>,
                  dense_mlp<dense_mlp_config{.model_width = C.model_width, .width = C.dense_width, .weights = C.weights}>>,
    C.dense_layers,
    decoder_layer<multi_head_latent_attention<family_detail::mla(C, C.attention_bias, true)>,
                  moe_layer<family_detail::moe_ffn(C,
                                                   C.topk_method == deepseek_v2_topk::greedy
                                                       ? routers::deepseek_v2_greedy
                                                       : routers::deepseek_v2_group_limited(C.groups, C.top_k_groups),
                                                   C.shared_experts)>>,
    C.layers - C.dense_layers>::type;

template <deepseek_v3_config C>
using deepseek_v3 = typename family_detail::with_dense_prefix<
    family_detail::lm(model_family::deepseek_v3, C),
    decoder_layer<multi_head_latent_attention<family_detail::mla(C, C.attention_bias, C.rope_interleave)>,
                  dense_mlp<dense_mlp_config{.model_width = C.model_width, .width = C.dense_width, .weights = C.weights}>>,
    C.dense_layers,
    decoder_layer<multi_head_latent_attention<family_detail::mla(C, C.attention_bias, C.rope_interleave)>,
                  moe_layer<family_detail::moe_ffn(C,
                                                   router_config{.scoring = scoring_function::sigmoid,
                                                                 .normalize_top_k = C.norm_topk_prob,
                                                                 .selection_bias = true,
                                                                 .group_by = group_scoring::sum_of_top_2,
                                                                 .groups = C.groups,
                                                                 .top_k_groups = C.top_k_groups},
                                                   C.shared_experts)>>,
    C.layers - C.dense_layers>::type;

}  // namespace moe::cpu
