// moe/routing/route_token.hpp — one token's routing: logits → (expert ids, weights), exactly as the families define it.
//
// This is the single definition of routing semantics in the library (docs/routing.md has the formulas and the
// reference each follows). It is the formulas of router_math.hpp in sequential loops; the CUDA router kernel runs
// the same formulas warp-parallel. Plain C++ with no dependencies, callable on the host and the device; fp32.
#pragma once

#include "moe/macros.hpp"
#include "moe/config/router_config.hpp"
#include "moe/routing/activations.hpp"
#include "moe/routing/router_math.hpp"
#include "moe/routing/top_k.hpp"

namespace moe {

// logits:          (E)  router logits l = W_router · x, fp32
// selection_bias:  (E)  e_score_correction_bias when Router.selection_bias, else ignored (may be null)
// expert_ids:      (K)  out: chosen experts, best first (see top_k.hpp for the order and the tie rule)
// weights:         (K)  out: their combine weights
template <router_config Router, int Experts, int TopK>
MOE_HOST_DEVICE void route_token(const float* logits, const float* selection_bias, float routed_scaling_factor,
                                 int* expert_ids, float* weights) {
    static_assert(TopK >= 1 && TopK <= Experts, "route_token: need 1 <= TopK <= Experts");
    namespace math = router_math;
    float scores[Experts];  // s or p: the unbiased scores the weights come from
    if constexpr (Router.scoring == scoring_function::softmax) {
        float max_logit = logits[0];
        for (int i = 1; i < Experts; ++i) max_logit = math::running_max(max_logit, logits[i]);
        for (int i = 0; i < Experts; ++i) scores[i] = math::softmax_numerator(logits[i], max_logit);
        const float sum = math::index_order_sum(scores, Experts);
        for (int i = 0; i < Experts; ++i) scores[i] /= sum;
    } else {
        for (int i = 0; i < Experts; ++i) scores[i] = sigmoid(logits[i]);
    }

    float biased[Router.selection_bias ? Experts : 1];
    const float* choice = scores;
    if constexpr (Router.selection_bias) {
        for (int i = 0; i < Experts; ++i) biased[i] = math::selection_score(scores[i], selection_bias[i]);
        choice = biased;
    }

    if constexpr (Router.group_by == group_scoring::none) {
        top_k_indices(choice, Experts, TopK, [](int) { return true; }, expert_ids);
    } else {
        constexpr int groups = Router.groups;
        constexpr int per_group = Experts / groups;
        float group_scores[groups];
        for (int g = 0; g < groups; ++g) {
            group_scores[g] = math::group_score<Router.group_by>(choice + g * per_group, per_group);
        }
        bool group_kept[groups];
        math::keep_best_groups<Router.top_k_groups>(group_scores, groups, group_kept);
        top_k_indices(choice, Experts, TopK, [&](int i) { return group_kept[i / per_group]; }, expert_ids);
    }

    const float denominator = math::weight_denominator<Router>(scores, expert_ids, TopK);
    for (int j = 0; j < TopK; ++j) {
        weights[j] = math::routing_weight<Router>(scores[expert_ids[j]], denominator, routed_scaling_factor);
    }
}

}  // namespace moe
