// The cards moe_card writes for this repository's checkpoints (header generated at build time from models/ and
// tests/data, examples/CMakeLists.txt) equal cards written by hand from the same config.json files — the tiny
// reasoner's in moe/models/tiny_reasoner.hpp and the test models' as the examples listed them before moe_card.
// Compared as template arguments: equal only when every field is. A mismatch fails the build.
#include <cstdio>
#include <type_traits>

#include MOE_MODELS_HEADER
#include "moe/models/tiny_reasoner.hpp"

namespace {

template <auto Card>
struct card {};
template <auto A, auto B>
constexpr bool same = std::is_same_v<card<A>, card<B>>;

constexpr moe::mixtral_config tiny_mixtral{.vocab_size = 160, .model_width = 64, .layers = 2, .heads = 4,
                                           .kv_heads = 2, .head_dim = 16, .expert_width = 96, .experts = 5,
                                           .top_k = 2, .weights = moe::weight_format::fp32};
constexpr moe::qwen3_moe_config tiny_chat{.vocab_size = 384, .model_width = 32, .layers = 2, .heads = 4,
                                          .kv_heads = 2, .head_dim = 8, .expert_width = 32, .experts = 4,
                                          .top_k = 2, .norm_topk_prob = true, .tied_embeddings = false,
                                          .weights = moe::weight_format::fp32};
constexpr moe::qwen3_moe_config tiny_qwen3{.vocab_size = 160, .model_width = 64, .layers = 2, .heads = 4,
                                           .kv_heads = 2, .head_dim = 16, .expert_width = 48, .experts = 6,
                                           .top_k = 4, .norm_topk_prob = true, .tied_embeddings = true,
                                           .weights = moe::weight_format::fp32};
constexpr moe::deepseek_v3_config tiny_deepseek_v3{
    .vocab_size = 160, .model_width = 64, .layers = 3, .heads = 4, .q_lora_rank = 24, .kv_lora_rank = 32,
    .qk_nope_head_dim = 16, .qk_rope_head_dim = 8, .v_head_dim = 16, .dense_layers = 1, .dense_width = 96,
    .expert_width = 32, .experts = 12, .top_k = 3, .shared_experts = 1, .groups = 4, .top_k_groups = 2,
    .norm_topk_prob = true, .weights = moe::weight_format::fp32};

static_assert(same<moe_models::tiny_reasoner, moe::tiny_reasoner>, "models/tiny-reasoner");
static_assert(same<moe_models::mixtral, tiny_mixtral>, "tests/data/models/mixtral");
static_assert(same<moe_models::chat_model, tiny_chat>, "tests/data/chat_model");
static_assert(same<moe_models::qwen3_moe, tiny_qwen3>, "tests/data/models/qwen3_moe");
static_assert(same<moe_models::deepseek_v3, tiny_deepseek_v3>, "tests/data/models/deepseek_v3");
// bf16 dtypes choose bf16 weights; otherwise the same card as the fp32 checkpoint.
static_assert(moe_models::qwen3_moe_bf16.weights == moe::weight_format::bf16);

}  // namespace

int main() {
    std::puts("moe_card cards equal the hand-written ones");
    return 0;
}
