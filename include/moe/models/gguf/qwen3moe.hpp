// moe/models/gguf/qwen3moe.hpp — GGUF architecture `qwen3moe` as moe::qwen3_moe types (as
// llama.cpp's qwen3moe model graph reads it): per-head QK-norm (attn_q_norm / attn_k_norm), merged experts, top-k renormalised
// (llama.cpp fixes norm_w = true for this architecture), no sliding window.
#pragma once

#include "moe/models/gguf/gguf_config.hpp"

namespace moe::gguf {

template <>
struct gguf_conventions<model_family::qwen3_moe> {
    static constexpr bool permuted_qk = false;
    static bool matches(const io::gguf_file&, const std::string& arch) { return arch == "qwen3moe"; }
    static std::string expected_architecture(const io::gguf_file&) { return "\"qwen3moe\""; }
    static void fields(config_builder& b) {
        gqa_fields(b);
        b.integer("num_experts", b.key("expert_count"));
        b.integer("num_experts_per_tok", b.key("expert_used_count"));
        expert_width_field(b, "moe_intermediate_size");
        b.fixed("norm_topk_prob", true);
        b.set("attention_bias", b.file().find_tensor("blk.0.attn_q.bias") != nullptr, "blk.0.attn_q.bias (present: biases)");
    }
};

}  // namespace moe::gguf
