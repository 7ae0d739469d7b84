// tests/models/tiny_cards.hpp — the model cards of the tiny checkpoints in tests/data/models (one per family).
#pragma once

#include "moe/models.hpp"

namespace {

constexpr moe::mixtral_config tiny_mixtral{.vocab_size = 160, .model_width = 64, .layers = 2, .heads = 4,
                                           .kv_heads = 2, .head_dim = 16, .expert_width = 96, .experts = 5,
                                           .top_k = 2, .weights = moe::weight_format::fp32};
constexpr moe::qwen2_moe_config tiny_qwen2{.vocab_size = 160, .model_width = 64, .layers = 2, .heads = 4,
                                           .kv_heads = 2, .head_dim = 16, .expert_width = 48, .experts = 6,
                                           .top_k = 3, .shared_expert_width = 80, .norm_topk_prob = false,
                                           .weights = moe::weight_format::fp32};
constexpr moe::qwen3_moe_config tiny_qwen3{.vocab_size = 160, .model_width = 64, .layers = 2, .heads = 4,
                                           .kv_heads = 2, .head_dim = 16, .expert_width = 48, .experts = 6,
                                           .top_k = 4, .norm_topk_prob = true, .tied_embeddings = true,
                                           .weights = moe::weight_format::fp32};
constexpr moe::olmoe_config tiny_olmoe{.vocab_size = 160, .model_width = 64, .layers = 2, .heads = 4,
                                       .kv_heads = 4, .head_dim = 16, .expert_width = 40, .experts = 6,
                                       .top_k = 3, .norm_topk_prob = false, .weights = moe::weight_format::fp32};
constexpr moe::deepseek_v2_config tiny_v2{.vocab_size = 160, .model_width = 64, .layers = 3, .heads = 4,
                                          .q_lora_rank = 0, .kv_lora_rank = 32, .qk_nope_head_dim = 16,
                                          .qk_rope_head_dim = 8, .v_head_dim = 16, .dense_layers = 1,
                                          .dense_width = 96, .expert_width = 32, .experts = 8, .top_k = 3,
                                          .shared_experts = 2, .weights = moe::weight_format::fp32};
constexpr moe::deepseek_v3_config tiny_v3{.vocab_size = 160, .model_width = 64, .layers = 3, .heads = 4,
                                          .q_lora_rank = 24, .kv_lora_rank = 32, .qk_nope_head_dim = 16,
                                          .qk_rope_head_dim = 8, .v_head_dim = 16, .dense_layers = 1,
                                          .dense_width = 96, .expert_width = 32, .experts = 12, .top_k = 3,
                                          .shared_experts = 1, .groups = 4, .top_k_groups = 2,
                                          .norm_topk_prob = true, .weights = moe::weight_format::fp32};

}  // namespace
