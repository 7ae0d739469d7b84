// moe/models/gguf/deepseek2.hpp — GGUF architecture `deepseek2` as moe::deepseek_v2 and moe::deepseek_v3 types
// (llama.cpp's deepseek2 model graph): MLA stored as MQA (head_count_kv 1, key_length kv_lora + rope; the HF head
// widths in key_length_mla / value_length_mla, or key_length / value_length in older files), kv_b split into
// attn_k_b / attn_v_b (or attn_kv_b in older files), leading dense layers, shared experts (expert_shared_count of
// width expert_feed_forward_length), routed_scaling_factor = expert_weights_scale (absent: 1), expert_weights_norm
// (absent: false), expert_gating_func 1 = softmax (absent: softmax, llama.cpp's default for deepseek2), 2 = sigmoid
// with the selection bias exp_probs_b (DeepSeek-V3), groups expert_group_count / expert_group_used_count, YaRN
// with yarn_log_multiplier = 0.1 · mscale_all_dim (llama.cpp takes mscale = mscale_all_dim). q_lora_rank absent
// means no q compression (the converter omits it then).
#pragma once

#include "moe/models/gguf/gguf_config.hpp"

namespace moe::gguf::deepseek2_detail {

inline void fields(config_builder& b, bool v3) {
    const io::gguf_file& f = b.file();
    b.integer("num_attention_heads", b.key("attention.head_count"));
    b.set("num_key_value_heads", f.optional_integer(b.key("attention.head_count")).value_or(0),
          b.key("attention.head_count") + " (MLA: every head)");
    b.integer("q_lora_rank", b.key("attention.q_lora_rank"), 0);
    b.integer("kv_lora_rank", b.key("attention.kv_lora_rank"));
    b.integer("qk_rope_head_dim", b.key("rope.dimension_count"));
    const std::int64_t rope = f.optional_integer(b.key("rope.dimension_count")).value_or(0);
    const bool mla_keys = f.contains(b.key("attention.key_length_mla"));
    const std::string k_key = b.key(mla_keys ? "attention.key_length_mla" : "attention.key_length");
    const std::string v_key = b.key(mla_keys ? "attention.value_length_mla" : "attention.value_length");
    if (auto k = f.optional_integer(k_key)) b.set("qk_nope_head_dim", *k - rope, k_key + " - " + b.key("rope.dimension_count"));
    b.integer("v_head_dim", v_key);
    b.set("attention_bias", false, "the architecture deepseek2 (no attention biases)");
    b.integer("first_k_dense_replace", b.key("leading_dense_block_count"), 0);
    b.integer("intermediate_size", b.key("feed_forward_length"));
    b.integer("moe_intermediate_size", b.key("expert_feed_forward_length"));
    b.integer("n_routed_experts", b.key("expert_count"));
    b.integer("num_experts_per_tok", b.key("expert_used_count"));
    b.integer("n_shared_experts", b.key("expert_shared_count"));
    b.integer("n_group", b.key("expert_group_count"), 1);
    b.integer("topk_group", b.key("expert_group_used_count"), 1);
    b.number("routed_scaling_factor", b.key("expert_weights_scale"), 1.0);
    b.boolean("norm_topk_prob", b.key("expert_weights_norm"), false);
    const std::int64_t gating = f.optional_integer(b.key("expert_gating_func")).value_or(1);
    const std::string scoring = gating == 1 ? "softmax" : gating == 2 ? "sigmoid" : "function " + std::to_string(gating);
    b.set("scoring_func", scoring, b.key("expert_gating_func"));
    const bool bias = f.find_tensor("blk." + std::to_string(f.optional_integer(b.key("leading_dense_block_count")).value_or(0)) +
                                    ".exp_probs_b.bias") != nullptr;
    if (v3) {
        b.set("topk_method", bias ? "noaux_tc" : "greedy", "exp_probs_b.bias (absent: no selection bias)");
        b.fixed("rope_interleave", true);
    } else {
        if (scoring != "softmax") b.problem(b.key("expert_gating_func") + " is " + scoring + ", the model type (deepseek_v2) has softmax");
        if (bias) b.problem("exp_probs_b.bias is present (a selection bias), the model type (deepseek_v2) has none");
        const bool grouped = f.optional_integer(b.key("expert_group_count")).value_or(1) > 1;
        b.set("topk_method", grouped ? "group_limited_greedy" : "greedy", b.key("expert_group_count"));
    }
    if (auto* rope_scaling = b.json().contains("rope_scaling") ? &b.json()["rope_scaling"] : nullptr) {
        if (auto mul = f.optional_number(b.key("rope.scaling.yarn_log_multiplier"))) {
            (*rope_scaling)["mscale_all_dim"] = *mul / 0.1;
            (*rope_scaling)["mscale"] = *mul / 0.1;
        }
    }
}

}  // namespace moe::gguf::deepseek2_detail

namespace moe::gguf {

template <>
struct gguf_conventions<model_family::deepseek_v2> {
    static constexpr bool permuted_qk = false;
    static bool matches(const io::gguf_file&, const std::string& arch) { return arch == "deepseek2"; }
    static std::string expected_architecture(const io::gguf_file&) { return "\"deepseek2\""; }
    static void fields(config_builder& b) { deepseek2_detail::fields(b, false); }
};

template <>
struct gguf_conventions<model_family::deepseek_v3> {
    static constexpr bool permuted_qk = false;
    static bool matches(const io::gguf_file&, const std::string& arch) { return arch == "deepseek2"; }
    static std::string expected_architecture(const io::gguf_file&) { return "\"deepseek2\""; }
    static void fields(config_builder& b) { deepseek2_detail::fields(b, true); }
};

}  // namespace moe::gguf
