// moe/models/families/mixtral.hpp — Mixtral (MixtralForCausalLM): GQA, no biases, every layer MoE, softmax top-k
// renormalised, sliding_window applied whenever config.json sets it.
//
//   constexpr moe::mixtral_config card{.vocab_size = 32000, .model_width = 4096, ...};
//   using description = moe::mixtral<card>;            // backend-free
//   using cpu_model = moe::cpu::model<description>;    // (moe::cpu::mixtral<card> for short)
#pragma once

#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/families/compose.hpp"

namespace moe {

// Field names after config.json where C++ allows.
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

// The description of a mixtral card (a class in between: GCC 12 fails on an alias of this alias otherwise).
template <mixtral_config C>
struct mixtral_description {
    using type = compose::gqa_moe_lm<compose::lm(model_family::mixtral, C),
                                        compose::gqa(C, false, false, qk_norm_kind::none),
                                        compose::moe_ffn(C, routers::mixtral), C.layers>;
};

template <mixtral_config C>
using mixtral = typename mixtral_description<C>::type;

template <>
struct checkpoint_conventions<model_family::mixtral> : default_conventions {
    static constexpr moe_tensor_names moe_names{
        .block = "block_sparse_moe.", .expert_gate = "w1", .expert_up = "w3", .expert_down = "w2"};
    // MixtralConfig's defaults.
    static constexpr double default_rope_theta = 1e6;
    static constexpr double default_rms_norm_eps = 1e-5;
    static constexpr int default_kv_heads = 8;

    static void check_moe(hf_config& c, const moe_layer_config& m) {
        c.expect_int({"num_local_experts", "num_experts"}, m.experts);
        c.expect_int({"intermediate_size"}, m.expert_width);
    }
    // Every layer, when set (null: none); 0 would hide every key.
    static std::int64_t sliding_window(hf_config& c, int /*layer*/) { return c.integer({"sliding_window"}, 0, 1); }
};

}  // namespace moe
