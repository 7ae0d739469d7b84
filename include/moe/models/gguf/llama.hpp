// moe/models/gguf/llama.hpp — GGUF architecture `llama` with experts (Mixtral) as moe::mixtral types (as
// llama.cpp's llama model graph reads it): merged ffn_*_exps (or per-expert blk.L.ffn_gate.E in older files) of width
// feed_forward_length, top-k renormalised, Q/K rows permuted by the converter (undone by gguf_tensors.hpp), no
// sliding window (llama.cpp applies none). A `llama` file without expert_count is a dense Llama: refused.
#pragma once

#include "moe/models/gguf/gguf_config.hpp"

namespace moe::gguf {

template <>
struct gguf_conventions<model_family::mixtral> {
    static constexpr bool permuted_qk = true;
    static bool matches(const io::gguf_file&, const std::string& arch) { return arch == "llama"; }
    static std::string expected_architecture(const io::gguf_file&) { return "\"llama\" (with experts)"; }
    static void fields(config_builder& b) {
        gqa_fields(b);
        b.integer("num_local_experts", b.key("expert_count"));
        b.integer("num_experts_per_tok", b.key("expert_used_count"));
        expert_width_field(b, "intermediate_size");
    }
};

}  // namespace moe::gguf
