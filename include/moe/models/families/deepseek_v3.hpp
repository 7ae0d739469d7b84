// moe/models/families/deepseek_v3.hpp — DeepSeek-V3 / R1 (DeepseekV3ForCausalLM): MLA, first layers dense, sigmoid
// router with a selection bias and groups (noaux_tc), shared experts, routed_scaling_factor.
#pragma once

#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/families/compose.hpp"
#include "moe/models/families/deepseek_common.hpp"

namespace moe {

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

// The description of a deepseek_v3 card (a class in between: GCC 12 fails on an alias of this alias otherwise).
template <deepseek_v3_config C>
struct deepseek_v3_description {
    using type = compose::mla_lm_with_dense_prefix<
        compose::lm(model_family::deepseek_v3, C), compose::mla(C, C.attention_bias, C.rope_interleave),
        compose::dense_ffn(C), C.dense_layers,
        compose::moe_ffn(C,
                         router_config{.scoring = scoring_function::sigmoid,
                                       .normalize_top_k = C.norm_topk_prob,
                                       .selection_bias = true,
                                       .group_by = group_scoring::sum_of_top_2,
                                       .groups = C.groups,
                                       .top_k_groups = C.top_k_groups},
                         C.shared_experts),
        C.layers - C.dense_layers>;
};

template <deepseek_v3_config C>
using deepseek_v3 = typename deepseek_v3_description<C>::type;

template <>
struct checkpoint_conventions<model_family::deepseek_v3>
    : deepseek_detail::conventions<deepseek_detail::v3_defaults> {
    static void check_attention(hf_config& c, const mla_config& m) {
        conventions::check_attention(c, m);
        c.expect_bool("rope_interleave", m.rope_interleave, true);
    }
    static void check_moe(hf_config& c, const moe_layer_config& m) {
        deepseek_detail::check_moe<deepseek_detail::v3_defaults>(c, m);
        c.expect_bool("norm_topk_prob", m.router.normalize_top_k, true);
        c.expect_string("scoring_func", "sigmoid", "sigmoid");
        c.expect_string("topk_method", "noaux_tc", "noaux_tc");
    }
};

}  // namespace moe
