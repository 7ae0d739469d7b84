// A deliberately plain router written for the tests, independent of moe/routing/*: full sorts instead of the
// library's insertion top-k, double-precision scores, explicit masks. It encodes docs/routing.md directly.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "moe/config/router_config.hpp"

namespace moe_test {

struct reference_routing {
    std::vector<int> ids;         // (K) best first
    std::vector<double> weights;  // (K)
};

// Sort key of docs/routing.md's top-k (the library's documented order): larger first, NaN first, ties → lower index.
inline std::vector<int> sorted_indices(const std::vector<double>& v, const std::vector<bool>& eligible) {
    std::vector<int> idx;
    for (int i = 0; i < static_cast<int>(v.size()); ++i)
        if (eligible[static_cast<std::size_t>(i)]) idx.push_back(i);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
        const double va = v[static_cast<std::size_t>(a)], vb = v[static_cast<std::size_t>(b)];
        if (std::isnan(va) != std::isnan(vb)) return std::isnan(va);
        return va > vb;
    });
    return idx;
}

inline reference_routing reference_route(const moe::router_config& r, const std::vector<double>& logits,
                                         const std::vector<double>& bias, int k, double scale) {
    const int E = static_cast<int>(logits.size());
    std::vector<double> s(static_cast<std::size_t>(E));
    if (r.scoring == moe::scoring_function::softmax) {
        const double m = *std::max_element(logits.begin(), logits.end());
        double z = 0;
        for (int i = 0; i < E; ++i) z += std::exp(logits[i] - m);
        for (int i = 0; i < E; ++i) s[i] = std::exp(logits[i] - m) / z;
    } else {
        for (int i = 0; i < E; ++i) s[i] = 1.0 / (1.0 + std::exp(-logits[i]));
    }
    std::vector<double> choice = s;
    if (r.selection_bias)
        for (int i = 0; i < E; ++i) choice[i] = s[i] + bias[i];

    std::vector<bool> eligible(static_cast<std::size_t>(E), true);
    if (r.group_by != moe::group_scoring::none) {
        const int G = r.groups, per = E / G;
        std::vector<double> group_score(static_cast<std::size_t>(G));
        for (int g = 0; g < G; ++g) {
            std::vector<double> members(choice.begin() + g * per, choice.begin() + (g + 1) * per);
            std::sort(members.begin(), members.end(), std::greater<>());
            group_score[g] = r.group_by == moe::group_scoring::max ? members[0] : members[0] + members[1];
        }
        const auto order = sorted_indices(group_score, std::vector<bool>(static_cast<std::size_t>(G), true));
        std::vector<bool> kept(static_cast<std::size_t>(G), false);
        for (int i = 0; i < r.top_k_groups; ++i) kept[order[i]] = true;
        for (int i = 0; i < E; ++i) eligible[i] = kept[i / per];
    }
    const auto order = sorted_indices(choice, eligible);
    reference_routing out;
    out.ids.assign(order.begin(), order.begin() + k);
    for (int id : out.ids) out.weights.push_back(s[id]);
    if (r.normalize_top_k) {
        const double sum = std::accumulate(out.weights.begin(), out.weights.end(), 0.0);
        for (double& w : out.weights) w /= sum;
    }
    for (double& w : out.weights) w *= scale;
    return out;
}

}  // namespace moe_test
