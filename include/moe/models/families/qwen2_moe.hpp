// moe/models/families/qwen2_moe.hpp — Qwen1.5-MoE / Qwen2-MoE (Qwen2MoeForCausalLM): q/k/v bias, a gated shared
// expert, every layer MoE, sliding_window only with use_sliding_window = true.
#pragma once

#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/families/compose.hpp"
#include "moe/models/families/qwen_common.hpp"

namespace moe {

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

// The description of a qwen2_moe card (a class in between: GCC 12 fails on an alias of this alias otherwise).
template <qwen2_moe_config C>
struct qwen2_moe_description {
    using type = compose::gqa_moe_lm<
        compose::lm(model_family::qwen2_moe, C), compose::gqa(C, true, false, qk_norm_kind::none),
        compose::moe_ffn(C, compose::softmax_router(C.norm_topk_prob), 1, C.shared_expert_width, true), C.layers>;
};

template <qwen2_moe_config C>
using qwen2_moe = typename qwen2_moe_description<C>::type;

template <>
struct checkpoint_conventions<model_family::qwen2_moe> : default_conventions {
    static constexpr moe_tensor_names moe_names{.shared_experts = "shared_expert."};

    static void check_moe(hf_config& c, const moe_layer_config& m) {
        qwen_detail::check_moe(c, m);
        c.expect_int({"shared_expert_intermediate_size"}, m.shared_width());
    }
    static std::int64_t sliding_window(const hf_config& c) { return qwen_detail::sliding_window(c); }
};

}  // namespace moe
