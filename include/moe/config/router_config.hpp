// moe/config/router_config.hpp — how a family's router turns logits into (expert, weight) pairs.
//
// Everything here is fixed per model family, so it is a compile-time value. The one per-checkpoint number
// (routed_scaling_factor) is a runtime value in moe::router_runtime. See docs/routing.md for the formulas.
#pragma once

namespace moe {

// The function that turns router logits l into scores.
enum class scoring_function {
    softmax,  // p = softmax(l)        (Mixtral, Qwen2/3-MoE, OLMoE, DeepSeek-V2)
    sigmoid,  // s = 1 / (1 + e^-l)    (DeepSeek-V3 / R1)
};

// How experts are pre-filtered by group before the top-k (DeepSeek's group-limited routing).
enum class group_scoring {
    none,          // plain top-k over all experts
    sum_of_top_2,  // group score = sum of the two largest selection scores in the group (DeepSeek-V3 "noaux_tc")
    max,           // group score = largest score in the group (DeepSeek-V2 "group_limited_greedy")
};

struct router_config {
    scoring_function scoring = scoring_function::softmax;
    // Divide the k selected weights by their sum (`norm_topk_prob`; always on for Mixtral).
    bool normalize_top_k = true;
    // Add a learned per-expert bias to the scores for *selection only* (`e_score_correction_bias`, DeepSeek-V3).
    bool selection_bias = false;
    group_scoring group_by = group_scoring::none;
    int groups = 1;        // n_group
    int top_k_groups = 1;  // topk_group: groups kept before the expert top-k

    friend constexpr bool operator==(const router_config&, const router_config&) = default;
};

// The routers of the supported families, as their released configs use them.
namespace routers {
inline constexpr router_config mixtral{.scoring = scoring_function::softmax, .normalize_top_k = true};
// Qwen1.5-MoE / Qwen2-MoE release configs set norm_topk_prob = false.
inline constexpr router_config qwen2_moe{.scoring = scoring_function::softmax, .normalize_top_k = false};
inline constexpr router_config qwen3_moe{.scoring = scoring_function::softmax, .normalize_top_k = true};
inline constexpr router_config olmoe{.scoring = scoring_function::softmax, .normalize_top_k = false};
// DeepSeek-V2 "greedy" (V2-Lite) and "group_limited_greedy" (V2): softmax, no renormalisation in released configs.
inline constexpr router_config deepseek_v2_greedy{.scoring = scoring_function::softmax, .normalize_top_k = false};
constexpr router_config deepseek_v2_group_limited(int groups, int top_k_groups) {
    return {.scoring = scoring_function::softmax,
            .normalize_top_k = false,
            .group_by = group_scoring::max,
            .groups = groups,
            .top_k_groups = top_k_groups};
}
// DeepSeek-V3 / R1: sigmoid scores, bias for selection, group-limited by the sum of the top-2, renormalised.
constexpr router_config deepseek_v3(int groups, int top_k_groups) {
    return {.scoring = scoring_function::sigmoid,
            .normalize_top_k = true,
            .selection_bias = true,
            .group_by = group_scoring::sum_of_top_2,
            .groups = groups,
            .top_k_groups = top_k_groups};
}
}  // namespace routers

// Per-checkpoint router values, read from config.json at run time.
struct router_runtime {
    float routed_scaling_factor = 1.0f;  // multiplies the final weights (DeepSeek: 2.5 in V3, 1.0 in V2-Lite)
};

}  // namespace moe
