// tests/link/link_cuda.hpp — what the two translation units of test_link_cuda share: moe/cuda.hpp, one MoE layer
// configuration, and the functions unit b defines for unit a.
#pragma once

#include <cstdint>
#include <vector>

#include "moe/cuda.hpp"

namespace moe_link {

// DeepSeek-V3-shaped, small: 16 experts in 4 groups (2 kept), top-4, sigmoid + selection bias, scaling 2.5, one
// shared expert; fp32 weights (the SIMT kernels: exact fp32 products, quick to compile).
inline constexpr moe::moe_layer_config cuda_layer{.model_width = 64,
                                                  .expert_width = 32,
                                                  .experts = 16,
                                                  .top_k = 4,
                                                  .shared_experts = 1,
                                                  .router = moe::routers::deepseek_v3(4, 2),
                                                  .weights = moe::weight_format::fp32};
inline constexpr std::int64_t cuda_tokens = 45;
inline constexpr std::uint64_t cuda_weight_seed = 5;
inline constexpr float cuda_scaling = 2.5f;

struct cuda_layer_run {
    std::vector<float> y;                 // (T, D)
    moe::cuda::moe_routing_result routing;  // of that forward
};

// Defined in link_cuda_b.cu: moe::cuda::moe_layer<cuda_layer> with owned_moe_layer_weights<cuda_layer>::random(
// cuda_weight_seed) over x: (T, D) host.
cuda_layer_run run_layer_in_b(const std::vector<float>& x);
// Defined in link_cuda_b.cu: moe::cuda::sample with temperature 0 over logits: (V) host.
int greedy_token_in_b(const std::vector<float>& logits);

}  // namespace moe_link
