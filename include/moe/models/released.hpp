// moe/models/released.hpp — model cards of released checkpoints (backend-free; their CPU model types are in
// moe/models/cpu.hpp, e.g. moe::cpu::qwen3_30b_a3b).
//
// Every number is copied from the checkpoint's own config.json (field names in the comments of the family files);
// load_model() compares them with the config.json it is given, so a wrong number here cannot go unnoticed.
// Weights default to bf16, the dtype these checkpoints are published in (used in place, without a copy).
#pragma once

#include "moe/models/families.hpp"

namespace moe {

// mistralai/Mixtral-8x7B-v0.1: 46.7 B parameters, 12.9 B active.
inline constexpr mixtral_config mixtral_8x7b{.vocab_size = 32000, .model_width = 4096, .layers = 32, .heads = 32,
                                             .kv_heads = 8, .head_dim = 128, .expert_width = 14336, .experts = 8,
                                             .top_k = 2};

// Qwen/Qwen3-30B-A3B: 128 experts, top-8, per-head QK-norm, head_dim 128 (≠ 2048 / 32).
inline constexpr qwen3_moe_config qwen3_30b_a3b{.vocab_size = 151936, .model_width = 2048, .layers = 48,
                                                .heads = 32, .kv_heads = 4, .head_dim = 128, .expert_width = 768,
                                                .experts = 128, .top_k = 8, .norm_topk_prob = true};

// allenai/OLMoE-1B-7B-0924: 64 experts, top-8, no renormalisation.
inline constexpr olmoe_config olmoe_1b_7b{.vocab_size = 50304, .model_width = 2048, .layers = 16, .heads = 16,
                                          .kv_heads = 16, .head_dim = 128, .expert_width = 1024, .experts = 64,
                                          .top_k = 8, .norm_topk_prob = false};

// Qwen/Qwen1.5-MoE-A2.7B: 60 experts (not a power of two), top-4, gated shared expert of width 5632.
inline constexpr qwen2_moe_config qwen1_5_moe_a2_7b{.vocab_size = 151936, .model_width = 2048, .layers = 24,
                                                    .heads = 16, .kv_heads = 16, .head_dim = 128,
                                                    .expert_width = 1408, .experts = 60, .top_k = 4,
                                                    .shared_expert_width = 5632, .norm_topk_prob = false};

// deepseek-ai/DeepSeek-V2-Lite: MLA without query compression, first layer dense, 64 experts top-6, 2 shared.
inline constexpr deepseek_v2_config deepseek_v2_lite{
    .vocab_size = 102400, .model_width = 2048, .layers = 27, .heads = 16, .q_lora_rank = 0, .kv_lora_rank = 512,
    .qk_nope_head_dim = 128, .qk_rope_head_dim = 64, .v_head_dim = 128, .dense_layers = 1, .dense_width = 10944,
    .expert_width = 1408, .experts = 64, .top_k = 6, .shared_experts = 2,
    .topk_method = deepseek_v2_topk::greedy};

// deepseek-ai/DeepSeek-V3 (and R1, same architecture): 671 B parameters, 37 B active.
inline constexpr deepseek_v3_config deepseek_v3_671b{
    .vocab_size = 129280, .model_width = 7168, .layers = 61, .heads = 128, .q_lora_rank = 1536,
    .kv_lora_rank = 512, .qk_nope_head_dim = 128, .qk_rope_head_dim = 64, .v_head_dim = 128, .dense_layers = 3,
    .dense_width = 18432, .expert_width = 2048, .experts = 256, .top_k = 8, .shared_experts = 1, .groups = 8,
    .top_k_groups = 4, .norm_topk_prob = true};

}  // namespace moe
