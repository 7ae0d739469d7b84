// moe/routing/routing_plan.hpp — who goes where: per-token routing and the grouping of (token, slot) pairs by expert.
//
// T = tokens, K = top_k, E = experts. After build(), rows [expert_offset[e], expert_offset[e+1]) of the grouped
// order belong to expert e, tokens ascending within an expert (a stable counting sort: deterministic).
#pragma once

#include <cstdint>
#include <vector>

namespace moe {

struct routing_plan {
    std::int64_t tokens = 0;
    int top_k = 0;
    int experts = 0;
    std::vector<std::int32_t> expert_ids;         // (T, K)  chosen experts per token, best first
    std::vector<float> weights;                   // (T, K)  their combine weights
    std::vector<std::int32_t> tokens_per_expert;  // (E)
    std::vector<std::int64_t> expert_offset;      // (E + 1) start of each expert's rows in the grouped order
    std::vector<std::int64_t> grouped_row;        // (T, K)  row of (token, slot) in the grouped order
    std::vector<std::int64_t> token_of_row;       // (T·K)   token each grouped row came from

    void resize(std::int64_t token_count, int k, int expert_count) {
        tokens = token_count;
        top_k = k;
        experts = expert_count;
        expert_ids.resize(static_cast<std::size_t>(token_count * k));
        weights.resize(static_cast<std::size_t>(token_count * k));
        grouped_row.resize(static_cast<std::size_t>(token_count * k));
        token_of_row.resize(static_cast<std::size_t>(token_count * k));
        tokens_per_expert.assign(static_cast<std::size_t>(expert_count), 0);
        expert_offset.assign(static_cast<std::size_t>(expert_count) + 1, 0);
    }

    // Groups (token, slot) pairs by expert once expert_ids is filled.
    void group_by_expert() {
        tokens_per_expert.assign(static_cast<std::size_t>(experts), 0);
        for (std::int32_t e : expert_ids) ++tokens_per_expert[static_cast<std::size_t>(e)];
        expert_offset[0] = 0;
        for (int e = 0; e < experts; ++e) expert_offset[e + 1] = expert_offset[e] + tokens_per_expert[e];
        std::vector<std::int64_t> next(expert_offset.begin(), expert_offset.end() - 1);
        for (std::int64_t t = 0; t < tokens; ++t) {
            for (int j = 0; j < top_k; ++j) {
                const std::int64_t pair = t * top_k + j;
                const std::int64_t row = next[static_cast<std::size_t>(expert_ids[pair])]++;
                grouped_row[pair] = row;
                token_of_row[row] = t;
            }
        }
    }
};

}  // namespace moe
