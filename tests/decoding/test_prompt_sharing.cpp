// Prompt sharing on real checkpoints: branches read the prompt's KV cache in place (pointer identity, memory
// accounting) and give the logits of unshared runs — grouped-query attention (Qwen3-MoE) and MLA (DeepSeek-V3).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "moe/models.hpp"

namespace test_prompt_sharing {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

constexpr moe::qwen3_moe_config tiny_qwen3{.vocab_size = 160, .model_width = 64, .layers = 2, .heads = 4,
                                           .kv_heads = 2, .head_dim = 16, .expert_width = 48, .experts = 6,
                                           .top_k = 4, .norm_topk_prob = true, .tied_embeddings = true,
                                           .weights = moe::weight_format::fp32};
constexpr moe::deepseek_v3_config tiny_deepseek_v3{
    .vocab_size = 160, .model_width = 64, .layers = 3, .heads = 4, .q_lora_rank = 24, .kv_lora_rank = 32,
    .qk_nope_head_dim = 16, .qk_rope_head_dim = 8, .v_head_dim = 16, .dense_layers = 1, .dense_width = 96,
    .expert_width = 32, .experts = 12, .top_k = 3, .shared_experts = 1, .groups = 4, .top_k_groups = 2,
    .norm_topk_prob = true, .weights = moe::weight_format::fp32};

const std::vector<std::int32_t> prompt{159, 86, 130, 124, 34, 68, 16, 0, 147, 33};  // P = 10
const std::vector<std::vector<std::int32_t>> continuations{{5, 17, 99, 3}, {120, 7, 7, 150}, {0, 1, 2, 3}};

// Every layer's shared rows are the prompt's own rows (same address), P of them.
template <class Caches>
void check_same_rows(const Caches& branch, const Caches& prompt_caches, std::int64_t P) {
    for (std::size_t l = 0; l < branch.size(); ++l) {
        if constexpr (requires { branch[l].shared_keys(); }) {
            CHECK(branch[l].shared_keys().data == prompt_caches[l].keys().data);
            CHECK(branch[l].shared_values().data == prompt_caches[l].values().data);
            CHECK(branch[l].shared_keys().rows == P);
        } else {
            CHECK(branch[l].shared_rows().data == prompt_caches[l].rows().data);
            CHECK(branch[l].shared_rows().rows == P);
        }
    }
}

template <class Model>
void check_sharing(const std::string& name, double tolerance) {
    auto model = moe::load_model<Model>(std::string(MOE_TEST_DATA_DIR) + "/models/" + name);
    constexpr std::int64_t V = Model::V;
    const std::int64_t P = static_cast<std::int64_t>(prompt.size()), N = 4, capacity = P + N;
    moe::cpu::thread_pool pool(2);

    // Unshared: each continuation on its own sequence, prompt included; logits of every new token.
    std::vector<moe::host_matrix<float>> alone;
    for (const auto& c : continuations) {
        auto s = model.new_sequence(capacity);
        moe::host_matrix<float> prompt_logits(1, V);
        model.forward(prompt, s, prompt_logits.view(), pool);
        moe::host_matrix<float> l(N, V);  // (N, V)
        for (std::int64_t t = 0; t < N; ++t)
            model.forward(std::span<const std::int32_t>(&c[std::size_t(t)], 1), s, moe::matrix_view<float>{l.row(t), 1, V}, pool);
        alone.push_back(std::move(l));
    }

    // Shared: the prompt once, three branches, one batched forward per step.
    auto root = model.new_sequence(P);
    moe::host_matrix<float> prompt_logits(1, V);
    model.forward(prompt, root, prompt_logits.view(), pool);
    const std::int64_t prompt_bytes = root.cache_bytes();
    const auto shared = Model::share(std::move(root));
    std::vector<typename Model::sequence> branches;
    for (std::size_t b = 0; b < continuations.size(); ++b) branches.push_back(model.new_sequence(capacity, shared));

    // No copy: a branch holds nothing before its first token (caches grow on demand), then rows for its own N
    // positions only, and its shared rows are the prompt's memory.
    for (const auto& br : branches) {
        CHECK(br.shared_positions() == P);
        CHECK(br.size() == P);
        CHECK(br.cache_bytes() == 0);
        const auto& mine = br.caches();
        const auto& theirs = shared->caches();
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (check_same_rows(std::get<I>(mine), std::get<I>(theirs), P), ...);
        }(std::make_index_sequence<std::tuple_size_v<std::remove_cvref_t<decltype(mine)>>>{});
    }

    std::vector<moe::host_matrix<float>> together(continuations.size(), moe::host_matrix<float>(N, V));
    for (std::int64_t t = 0; t < N; ++t) {
        std::vector<typename Model::step> steps;
        for (std::size_t b = 0; b < continuations.size(); ++b) {
            steps.push_back({std::span<const std::int32_t>(&continuations[b][std::size_t(t)], 1), &branches[b],
                             moe::matrix_view<float>{together[b].row(t), 1, V}});
        }
        model.forward(std::span<const typename Model::step>(steps), pool);
    }
    for (const auto& br : branches) CHECK(br.cache_bytes() * P == prompt_bytes * N);  // capacity P + N: N own rows
    double worst = 0.0;
    for (std::size_t b = 0; b < continuations.size(); ++b)
        for (std::int64_t i = 0; i < N * V; ++i)
            worst = std::max(worst, double(std::abs(alone[b].data()[i] - together[b].data()[i])));
    INFO(name << ": max |shared − unshared| = " << worst);
    CHECK(worst <= tolerance);
    // The prompt is untouched by its branches.
    CHECK(shared->size() == P);
    CHECK(branches[0].size() == P + N);

    // A branch clears back to the shared prompt.
    branches[0].clear();
    CHECK(branches[0].size() == P);
}

}  // namespace

TEST_CASE("shared prompt, grouped-query attention (Qwen3-MoE): same logits, no copy", "[decoding]") {
    check_sharing<moe::cpu::qwen3_moe<tiny_qwen3>>("qwen3_moe", 1e-5);
}

TEST_CASE("shared prompt, multi-head latent attention (DeepSeek-V3): same logits, no copy", "[decoding]") {
    check_sharing<moe::cpu::deepseek_v3<tiny_deepseek_v3>>("deepseek_v3", 1e-5);
}

TEST_CASE("a cache cannot write into its shared prefix, nor share a sharing cache", "[decoding]") {
    moe::cpu::kv_cache prompt(4, 8);
    prompt.commit(3);
    auto branch = moe::cpu::kv_cache::sharing(prompt, 6);
    CHECK(branch.size() == 3);
    CHECK(branch.shared() == 3);
    CHECK(branch.bytes_allocated() == 0);  // nothing until a position is about to be written
    branch.require_room(1);
    CHECK(branch.bytes_allocated() == 3 * branch.bytes_per_token());  // capped at its own capacity, 6 − 3
    CHECK_THROWS_AS(branch.keys(2, 1), std::logic_error);
    CHECK_NOTHROW(branch.keys(3, 1));
    CHECK_THROWS_AS(moe::cpu::kv_cache::sharing(branch, 8), std::invalid_argument);
}

}  // namespace test_prompt_sharing
