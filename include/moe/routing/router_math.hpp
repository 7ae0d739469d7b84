// moe/routing/router_math.hpp — the formulas of routing, written once for every backend (host and device).
//
// moe::route_token (one token, sequential) and the CUDA router kernel (one warp per token) are both assembled from
// these functions; only the loops around them differ. Keeping one spelling of each expression is what makes the
// backends agree bit for bit: same operations, same order of the sums that reach the output.
//   scores       softmax: e^(l − max) / Σ (index order)      sigmoid: 1 / (1 + e^-l)   (moe::sigmoid)
//   selection    s' = s + bias (selection only; the weights come from the unbiased s)
//   groups       score = max, or the sum of the two largest s'; the best top_k_groups groups stay eligible
//   weights      w = s[i]; w /= Σ_j s[i_j] (+ 1e-20 for sigmoid) when renormalising; w *= routed_scaling_factor
// Ties and NaN in every top-k follow moe::ranks_before (top_k.hpp).
#pragma once

#include <cmath>

#include "moe/macros.hpp"
#include "moe/config/router_config.hpp"
#include "moe/routing/activations.hpp"
#include "moe/routing/top_k.hpp"

namespace moe::router_math {

// One step of the softmax maximum. A NaN logit never replaces the running value, and a NaN start stays NaN: the
// sequential scan from logits[0]. Every partial maximum that starts at logits[0] may then be combined in any order
// (a warp reduces as a tree) and gives the same value: NaN exactly when logits[0] is, else the largest number
// (±0 ties do not matter: e^(l − 0) = e^(l + 0)).
MOE_HOST_DEVICE constexpr float running_max(float max_so_far, float logit) {
    return logit > max_so_far ? logit : max_so_far;
}

// The softmax numerator; the score is this divided by the index-order sum of all numerators.
MOE_HOST_DEVICE inline float softmax_numerator(float logit, float max_logit) { return std::exp(logit - max_logit); }

// Σ values[0, n) in index order — never as a tree: this rounding reaches the weights.
MOE_HOST_DEVICE inline float index_order_sum(const float* values /* (n) */, int n) {
    float sum = 0.0f;
    for (int i = 0; i < n; ++i) sum += values[i];
    return sum;
}

// s' = s + bias: steers which experts are chosen, never their weights (DeepSeek-V3's e_score_correction_bias).
MOE_HOST_DEVICE inline float selection_score(float score, float bias) { return score + bias; }

// The score of one group of experts in group-limited routing, from its selection scores.
template <group_scoring By>
MOE_HOST_DEVICE float group_score(const float* group /* (per_group) */, int per_group) {
    static_assert(By != group_scoring::none, "group_score: the router does not group experts");
    if constexpr (By == group_scoring::max) {
        int best = 0;
        top_k_indices(group, per_group, 1, [](int) { return true; }, &best);
        return group[best];
    } else {
        int best_two[2] = {0, 0};
        top_k_indices(group, per_group, 2, [](int) { return true; }, best_two);
        return group[best_two[0]] + group[best_two[1]];
    }
}

// group_kept[g]: whether group g is among the Kept best groups (ranks_before order). Experts of the other groups are
// excluded from selection outright — the reference's −inf, never a score of 0.0.
template <int Kept>
MOE_HOST_DEVICE void keep_best_groups(const float* group_scores /* (groups) */, int groups,
                                      bool* group_kept /* (groups) out */) {
    int kept[Kept];
    top_k_indices(group_scores, groups, Kept, [](int) { return true; }, kept);
    for (int g = 0; g < groups; ++g) group_kept[g] = false;
    for (int j = 0; j < Kept; ++j) group_kept[kept[j]] = true;
}

// The renormalisation denominator Σ_j scores[expert_ids[j]], in slot order; DeepSeek-V3 (sigmoid) adds 1e-20, the
// softmax families divide by the plain sum. 1 when Router does not renormalise (the value is then unused).
template <router_config Router>
MOE_HOST_DEVICE float weight_denominator(const float* scores /* (E) unbiased */, const int* expert_ids /* (K) */,
                                         int top_k) {
    if constexpr (!Router.normalize_top_k) {
        return 1.0f;
    } else {
        float sum = 0.0f;
        for (int j = 0; j < top_k; ++j) sum += scores[expert_ids[j]];
        if constexpr (Router.scoring == scoring_function::sigmoid) sum += 1e-20f;
        return sum;
    }
}

// The combine weight of a chosen expert from its unbiased score: renormalised, then scaled.
template <router_config Router>
MOE_HOST_DEVICE float routing_weight(float score, float denominator, float routed_scaling_factor) {
    float w = score;
    if constexpr (Router.normalize_top_k) w /= denominator;
    if (routed_scaling_factor != 1.0f) w *= routed_scaling_factor;
    return w;
}

}  // namespace moe::router_math
