// tests/cuda/test_configs.hpp — the MoE layer configurations the CUDA layer is tested on (shared by the GPU test and
// the CPU oracle, which is compiled by the host compiler with Eigen). Widths are small so the CPU oracle is quick;
// expert counts, top-k, groups and routers are those of released families.
#pragma once

#include "moe/core.hpp"

namespace moe_gpu_test {

// Qwen1.5-MoE-shaped: 60 experts top-4, a gated shared expert 2× as wide, bf16.
inline constexpr moe::moe_layer_config qwen15_moe_like{
    .model_width = 128, .expert_width = 64, .experts = 60, .top_k = 4, .shared_experts = 1,
    .shared_expert_width = 128, .shared_expert_gate = true, .router = moe::routers::qwen2_moe,
    .weights = moe::weight_format::bf16};
// DeepSeek-V3-shaped: 256 experts in 8 groups (4 kept), top-8, sigmoid + correction bias, one shared expert, bf16.
inline constexpr moe::moe_layer_config deepseek_v3_like{
    .model_width = 128, .expert_width = 64, .experts = 256, .top_k = 8, .shared_experts = 1,
    .router = moe::routers::deepseek_v3(8, 4), .weights = moe::weight_format::bf16};
// 384 experts top-16 (softmax, renormalised), fp16 weights.
inline constexpr moe::moe_layer_config experts384_top16{
    .model_width = 128, .expert_width = 32, .experts = 384, .top_k = 16, .router = moe::routers::qwen3_moe,
    .weights = moe::weight_format::fp16};
// DeepSeek-V2-shaped: 64 experts, 8 groups (3 kept, max rule), top-6, two shared experts, bf16.
inline constexpr moe::moe_layer_config deepseek_v2_like{
    .model_width = 96, .expert_width = 40, .experts = 64, .top_k = 6, .shared_experts = 2,
    .router = moe::routers::deepseek_v2_group_limited(8, 3), .weights = moe::weight_format::bf16};
// Mixtral-shaped with fp32 weights: the SIMT path.
inline constexpr moe::moe_layer_config mixtral_fp32{
    .model_width = 64, .expert_width = 96, .experts = 8, .top_k = 2, .router = moe::routers::mixtral,
    .weights = moe::weight_format::fp32};

}  // namespace moe_gpu_test
