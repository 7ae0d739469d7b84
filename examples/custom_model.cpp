// custom_model — composing a model of your own from the library's parts, in a few lines, and loading it.
//
//   custom_model CHECKPOINT_DIR     (default: tests/data/models/deepseek_v3, a tiny DeepSeek-V3-style checkpoint)
//
// The description below is spelled out from parts instead of using moe::deepseek_v3<card>: one dense layer, then
// MoE layers whose router is DeepSeek-V3's (sigmoid, selection bias, 4 groups keep 2). Change any value — a
// different router, top-k, a GQA layer instead of MLA — and the compiler builds code specialised for it;
// config.json is checked against the description when it loads. The description names no backend: choosing one
// is choosing which executes it (moe::cpu::model here).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "moe/models.hpp"

namespace my {

constexpr auto storage = moe::weight_format::fp32;  // the tiny checkpoint is fp32 (real ones: bf16)

// Attention: multi-head latent attention, DeepSeek-V3 style.
using attention = moe::model::mla<moe::mla_config{
    .model_width = 64, .heads = 4, .q_lora_rank = 24, .kv_lora_rank = 32,
    .qk_nope_head_dim = 16, .qk_rope_head_dim = 8, .v_head_dim = 16, .weights = storage}>;

// Feed-forward parts: a dense SwiGLU MLP and an MoE layer with 12 experts, top-3, one shared expert.
using dense_ffn = moe::model::dense_ffn<moe::dense_mlp_config{.model_width = 64, .width = 96, .weights = storage}>;
using moe_ffn = moe::model::moe_ffn<moe::moe_layer_config{
    .model_width = 64, .expert_width = 32, .experts = 12, .top_k = 3, .shared_experts = 1,
    .router = moe::routers::deepseek_v3(/*groups=*/4, /*top_k_groups=*/2), .weights = storage}>;

// The model: 1 dense layer, then 2 MoE layers.
using description = moe::model::causal_lm<
    moe::causal_lm_config{.family = moe::model_family::deepseek_v3, .vocab_size = 160, .model_width = 64, .weights = storage},
    moe::model::stack<moe::model::decoder<attention, dense_ffn>, 1>,
    moe::model::stack<moe::model::decoder<attention, moe_ffn>, 2>>;

// Run on the CPU.
using model = moe::cpu::model<description>;

}  // namespace my

int main(int argc, char** argv) {
    const std::string directory = argc > 1 ? argv[1] : MOE_SOURCE_DIR "/tests/data/models/deepseek_v3";
    try {
        auto model = moe::load_model<my::model>(directory);
        std::printf("loaded %s: %d layers, %.3f M parameters, %.3f M active per token\n", directory.c_str(),
                    my::model::layer_count, my::model::parameters() / 1e6, my::model::active_parameters() / 1e6);

        moe::cpu::thread_pool pool(2);
        auto sequence = model.new_sequence(16);
        const std::vector<std::int32_t> prompt = {3, 14, 15, 92, 65};
        moe::host_matrix<float> logits(1, my::model::V);
        model.forward(prompt, sequence, logits.view(), pool);
        int best = 0;
        for (int v = 1; v < my::model::V; ++v)
            if (logits(0, v) > logits(0, best)) best = v;
        std::printf("greedy next token after {3, 14, 15, 92, 65}: %d\n", best);

        // How the first MoE layer routed the last call's tokens.
        auto& first_moe = std::get<1>(model.layers())[0].feed_forward();
        std::printf("tokens per expert in the first MoE layer:");
        for (int n : first_moe.tokens_per_expert()) std::printf(" %d", n);
        std::printf("\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "custom_model: %s\n", e.what());
        return 1;
    }
    return 0;
}
