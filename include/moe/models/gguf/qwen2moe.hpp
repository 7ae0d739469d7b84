// moe/models/gguf/qwen2moe.hpp — GGUF architecture `qwen2moe` as moe::qwen2_moe types (as
// llama.cpp's qwen2moe model graph reads it): q/k/v biases, merged experts, one shared expert (ffn_*_shexp, width
// expert_shared_feed_forward_length) gated by ffn_gate_inp_shexp, top-k not renormalised (llama.cpp fixes
// norm_w = false), no sliding window (llama.cpp applies none).
#pragma once

#include "moe/models/gguf/gguf_config.hpp"

namespace moe::gguf {

template <>
struct gguf_conventions<model_family::qwen2_moe> {
    static constexpr bool permuted_qk = false;
    static bool matches(const io::gguf_file&, const std::string& arch) { return arch == "qwen2moe"; }
    static std::string expected_architecture(const io::gguf_file&) { return "\"qwen2moe\""; }
    static void fields(config_builder& b) {
        gqa_fields(b);
        b.integer("num_experts", b.key("expert_count"));
        b.integer("num_experts_per_tok", b.key("expert_used_count"));
        expert_width_field(b, "moe_intermediate_size");
        b.integer("shared_expert_intermediate_size", b.key("expert_shared_feed_forward_length"));
        b.fixed("norm_topk_prob", false);
        b.fixed("qkv_bias", true);
        b.fixed("use_sliding_window", false);
    }
};

}  // namespace moe::gguf
