// The example at the top of README.md, compiled and run by the tests so it cannot rot.
#include <cmath>
#include <cstdio>

#include "moe/cpu.hpp"

// A Qwen1.5-MoE-A2.7B layer as a type: 60 experts, top-4, one gated shared expert, bf16 weights.
constexpr moe::moe_layer_config qwen1_5_moe_layer{
    .model_width = 2048, .expert_width = 1408, .experts = 60, .top_k = 4,
    .shared_experts = 1, .shared_expert_width = 5632, .shared_expert_gate = true,
    .router = moe::routers::qwen2_moe, .weights = moe::weight_format::bf16};

int main() {
    const auto weights = moe::owned_moe_layer_weights<qwen1_5_moe_layer>::random(/*seed=*/1);  // or from a checkpoint
    moe::cpu::moe_layer<qwen1_5_moe_layer> layer(weights.view());

    moe::host_matrix<float> x(16, 2048), y(16, 2048);  // 16 tokens in, 16 out
    for (int t = 0; t < 16; ++t)
        for (int d = 0; d < 2048; ++d) x(t, d) = std::sin(0.37f * float(t + 1) * float(d + 1));
    moe::cpu::thread_pool pool(2);
    layer.forward(x.view(), y.view(), pool);

    std::printf("%.2f B of %.2f B parameters active per token; tokens per expert:",
                qwen1_5_moe_layer.active_parameters() / 1e9, qwen1_5_moe_layer.total_parameters() / 1e9);
    for (int n : layer.tokens_per_expert()) std::printf(" %d", n);
    std::printf("\n");
}
