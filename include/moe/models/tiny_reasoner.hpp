// moe/models/tiny_reasoner.hpp — the card and type of models/tiny-reasoner: a 4-layer Qwen3-MoE (8 experts, top-2,
// fp32) trained by tools/train_tiny_reasoner.py to add two 5-digit numbers, with or without a chain of thought.
//
//   auto model = moe::load_model<moe::cpu::tiny_reasoner>("models/tiny-reasoner");   // moe/models/cpu.hpp
//   using description = moe::qwen3_moe<moe::tiny_reasoner>;                         // backend-free
//
// Numbers copied from models/tiny-reasoner/config.json (load_model checks them against it).
#pragma once

#include "moe/models/families/qwen3_moe.hpp"

namespace moe {

// 276 tokens: 256 byte-level symbols, 5 specials (<|endoftext|> <|im_start|> <|im_end|> <think> </think>) and 15
// merges spelling the role names.
inline constexpr qwen3_moe_config tiny_reasoner{.vocab_size = 276, .model_width = 128, .layers = 4, .heads = 4,
                                                .kv_heads = 2, .head_dim = 32, .expert_width = 128, .experts = 8,
                                                .top_k = 2, .norm_topk_prob = true, .attention_bias = false,
                                                .tied_embeddings = false, .weights = weight_format::fp32};

}  // namespace moe
