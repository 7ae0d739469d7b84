// moe/models/gguf/olmoe.hpp — GGUF architecture `olmoe` as moe::olmoe types (llama.cpp's olmoe model graph):
// QK-norm over the whole projection (attn_q_norm of the model width), merged experts of width
// feed_forward_length, top-k not renormalised (llama.cpp fixes norm_w = false).
#pragma once

#include "moe/models/gguf/gguf_config.hpp"

namespace moe::gguf {

template <>
struct gguf_conventions<model_family::olmoe> {
    static constexpr bool permuted_qk = false;
    static bool matches(const io::gguf_file&, const std::string& arch) { return arch == "olmoe"; }
    static std::string expected_architecture(const io::gguf_file&) { return "\"olmoe\""; }
    static void fields(config_builder& b) {
        gqa_fields(b);
        b.integer("num_experts", b.key("expert_count"));
        b.integer("num_experts_per_tok", b.key("expert_used_count"));
        expert_width_field(b, "intermediate_size");
        b.fixed("norm_topk_prob", false);
        b.set("attention_bias", b.file().find_tensor("blk.0.attn_q.bias") != nullptr, "blk.0.attn_q.bias (present: biases)");
        // OLMo's clip_qkv (absent: none); llama.cpp's olmo reads it as attention.clamp_kqv.
        if (b.file().contains(b.key("attention.clamp_kqv"))) b.number("clip_qkv", b.key("attention.clamp_kqv"));
    }
};

}  // namespace moe::gguf
