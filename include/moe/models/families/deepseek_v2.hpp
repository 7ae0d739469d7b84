// moe/models/families/deepseek_v2.hpp — DeepSeek-V2 / V2-Lite (DeepseekV2ForCausalLM): MLA, first layers dense,
// softmax router (greedy or group-limited greedy), shared experts, routed_scaling_factor.
#pragma once

#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/families/compose.hpp"
#include "moe/models/families/deepseek_common.hpp"

namespace moe {

// How DeepSeek-V2 chooses experts (config.json topk_method).
enum class deepseek_v2_topk { greedy, group_limited_greedy };

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

// The description of a deepseek_v2 card (a class in between: GCC 12 fails on an alias of this alias otherwise).
template <deepseek_v2_config C>
struct deepseek_v2_description {
    using type = compose::mla_lm_with_dense_prefix<
        compose::lm(model_family::deepseek_v2, C), compose::mla(C, C.attention_bias, true), compose::dense_ffn(C),
        C.dense_layers,
        compose::moe_ffn(C,
                         C.topk_method == deepseek_v2_topk::greedy ? routers::deepseek_v2_greedy
                                                                   : routers::deepseek_v2_group_limited(C.groups, C.top_k_groups),
                         C.shared_experts),
        C.layers - C.dense_layers>;
};

template <deepseek_v2_config C>
using deepseek_v2 = typename deepseek_v2_description<C>::type;

template <>
struct checkpoint_conventions<model_family::deepseek_v2>
    : deepseek_detail::conventions<deepseek_detail::v2_defaults> {
    static void check_model(hf_config& c, int dense_layers, int layers) {
        conventions::check_model(c, dense_layers, layers);
        c.expect_bool("mlp_bias", false, false);  // biases on the dense and shared-expert MLPs: not modelled
    }
    static void check_moe(hf_config& c, const moe_layer_config& m) {
        deepseek_detail::check_moe<deepseek_detail::v2_defaults>(c, m);
        c.expect_string("topk_method", m.router.group_by == group_scoring::max ? "group_limited_greedy" : "greedy",
                        "greedy");
    }
};

}  // namespace moe
