// moe/routing/route_token.hpp — one token's routing: logits → (expert ids, weights), exactly as the families define it.
//
// This is the single definition of routing semantics in the library (docs/routing.md has the formulas and the
// reference each follows). It is plain C++ with no dependencies so the CPU layer, the GPU kernels and the tests
// all call the same code. Everything is fp32.
#pragma once

#include "moe/config/macros.hpp"
#include "moe/config/router_config.hpp"
#include "moe/routing/top_k.hpp"

#include <cmath>

namespace moe {

// logits:          (E)  router logits l = W_router · x, fp32
// selection_bias:  (E)  e_score_correction_bias when Router.selection_bias, else ignored (may be null)
// expert_ids:      (K)  out: chosen experts, best first (see top_k.hpp for the order and the tie rule)
// weights:         (K)  out: their combine weights
template <router_config Router, int Experts, int TopK>
MOE_HOST_DEVICE void route_token(const float* logits, const float* selection_bias, float routed_scaling_factor,
                                 int* expert_ids, float* weights) {
    static_assert(TopK >= 1 && TopK <= Experts, "route_token: need 1 <= TopK <= Experts");
    float scores[Experts];  // s or p: the unbiased scores the weights come from
    if constexpr (Router.scoring == scoring_function::softmax) {
        float max_logit = logits[0];
        for (int i = 1; i < Experts; ++i) max_logit = logits[i] > max_logit ? logits[i] : max_logit;
        float sum = 0.0f;
        for (int i = 0; i < Experts; ++i) {
            scores[i] = std::exp(logits[i] - max_logit);
            sum += scores[i];
        }
        for (int i = 0; i < Experts; ++i) scores[i] /= sum;
    } else {
        for (int i = 0; i < Experts; ++i) scores[i] = 1.0f / (1.0f + std::exp(-logits[i]));
    }

    // Selection may use biased scores s' = s + bias; the weights below never do (a DeepSeek-V3 trap).
    float biased[Router.selection_bias ? Experts : 1];
    const float* choice = scores;
    if constexpr (Router.selection_bias) {
        for (int i = 0; i < Experts; ++i) biased[i] = scores[i] + selection_bias[i];
        choice = biased;
    }

    if constexpr (Router.group_by == group_scoring::none) {
        top_k_indices(choice, Experts, TopK, [](int) { return true; }, expert_ids);
    } else {
        constexpr int groups = Router.groups;
        constexpr int per_group = Experts / Router.groups;
        float group_score[groups];
        for (int g = 0; g < groups; ++g) {
            const float* group = choice + g * per_group;
            if constexpr (Router.group_by == group_scoring::max) {
                int best = 0;
                top_k_indices(group, per_group, 1, [](int) { return true; }, &best);
                group_score[g] = group[best];
            } else {
                int best_two[2] = {0, 0};
                top_k_indices(group, per_group, 2, [](int) { return true; }, best_two);
                group_score[g] = group[best_two[0]] + group[best_two[1]];
            }
        }
        int kept[Router.top_k_groups];
        top_k_indices(group_score, groups, Router.top_k_groups, [](int) { return true; }, kept);
        bool group_kept[groups] = {};
        for (int g : kept) group_kept[g] = true;
        // Experts of dropped groups are excluded outright (the reference's −inf), never scored as 0.0.
        top_k_indices(choice, Experts, TopK, [&](int i) { return group_kept[i / per_group]; }, expert_ids);
    }

    for (int j = 0; j < TopK; ++j) weights[j] = scores[expert_ids[j]];
    if constexpr (Router.normalize_top_k) {
        float sum = 0.0f;
        for (int j = 0; j < TopK; ++j) sum += weights[j];
        // DeepSeek-V3 adds 1e-20 to the denominator; the softmax families divide by the plain sum.
        if constexpr (Router.scoring == scoring_function::sigmoid) sum += 1e-20f;
        for (int j = 0; j < TopK; ++j) weights[j] /= sum;
    }
    if (routed_scaling_factor != 1.0f) {
        for (int j = 0; j < TopK; ++j) weights[j] *= routed_scaling_factor;
    }
}

}  // namespace moe
