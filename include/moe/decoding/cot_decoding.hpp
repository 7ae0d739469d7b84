// moe/decoding/cot_decoding.hpp — CoT-decoding (Wang & Zhou, arXiv 2402.10200): branch on the top-k first tokens,
// continue each branch greedily, score each branch's answer by the model's confidence on the answer tokens.
//
//   Δ = (1 / |answer|) · Σ_{t ∈ answer tokens} ( p(x_t^1 | x_<t) − p(x_t^2 | x_<t) )
// with x^1, x^2 the most and second most likely tokens at step t from the softmax of the raw logits (the first
// step's margin comes from the prompt's logits). Answer tokens: the generated tokens whose text overlaps the
// extracted answer's bytes in the answer stream (a token that finishes a multi-byte character counts for it).
// Averaging over the whole continuation instead is the known wrong variant and is not what this computes.
//   max path:   the answer of the branch with the largest Δ (ties: the branch of the higher-ranked first token)
//   aggregated: Σ Δ over branches with the same answer; the largest sum wins (ties: the answer whose best-ranked
//               branch comes first)
// Branches share the prompt's KV cache; each has a token budget (max_tokens) and loop detection, so a greedy
// branch cannot run forever.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "moe/decoding/answer.hpp"
#include "moe/decoding/generator.hpp"

namespace moe::decoding {

struct cot_options {
    int k = 10;  // first tokens branched on (the paper: 10)
    answer_rule answer;
    int max_tokens = 128;
    loop_options loop;
    std::vector<std::int32_t> stop_tokens;
    std::vector<std::string> stop_strings;
    reasoning_options reasoning;
};

struct cot_branch {
    std::int32_t first_token = 0;
    std::optional<extracted_answer> answer;
    std::vector<std::size_t> answer_tokens;  // indices into the branch's tokens
    double delta = 0.0;                      // 0 when there is no answer
};

struct cot_answer_score {
    std::string answer;
    double delta_sum = 0.0;
    std::size_t first_branch = 0;
};

struct cot_result {
    std::vector<cot_branch> branches;  // in first-token rank order
    std::optional<std::string> max_path_answer;
    std::optional<std::size_t> max_path_branch;
    std::optional<std::string> aggregated_answer;
    std::vector<cot_answer_score> aggregated;  // Σ Δ desc, then first branch asc
    generation_result generation;
};

// Δ of one branch for a given answer span (separate so it is tested on exact margins).
inline double answer_confidence(const branch_result& b, const extracted_answer& a, std::vector<std::size_t>* used = nullptr) {
    double sum = 0.0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < b.tokens.size(); ++i) {
        const token_record& t = b.tokens[i];
        if (t.stream != text_stream::answer || t.text_end <= a.begin || t.text_begin >= a.end) continue;
        sum += t.margin;
        ++n;
        if (used) used->push_back(i);
    }
    return n ? sum / double(n) : 0.0;
}

// Δ, max path and aggregation over finished branches whose first tokens were `starts` (rank order); also used by
// moe/serving, which runs the branches in its batch.
inline cot_result score_cot_branches(generation_result generation, std::span<const std::int32_t> starts,
                                     const answer_rule& rule) {
    cot_result r;
    r.generation = std::move(generation);
    for (std::size_t b = 0; b < r.generation.branches.size(); ++b) {
        const branch_result& br = r.generation.branches[b];
        cot_branch c;
        c.first_token = starts[b];
        c.answer = extract_answer(br.answer, rule);
        if (c.answer) c.delta = answer_confidence(br, *c.answer, &c.answer_tokens);
        r.branches.push_back(std::move(c));
    }
    for (std::size_t b = 0; b < r.branches.size(); ++b) {
        const cot_branch& c = r.branches[b];
        if (!c.answer) continue;
        if (!r.max_path_branch || c.delta > r.branches[*r.max_path_branch].delta) r.max_path_branch = b;
        auto it = std::find_if(r.aggregated.begin(), r.aggregated.end(),
                               [&](const cot_answer_score& s) { return s.answer == c.answer->value; });
        if (it == r.aggregated.end()) r.aggregated.push_back({c.answer->value, c.delta, b});
        else it->delta_sum += c.delta;
    }
    std::stable_sort(r.aggregated.begin(), r.aggregated.end(), [](const cot_answer_score& a, const cot_answer_score& b) {
        return a.delta_sum > b.delta_sum || (a.delta_sum == b.delta_sum && a.first_branch < b.first_branch);
    });
    if (r.max_path_branch) r.max_path_answer = r.branches[*r.max_path_branch].answer->value;
    if (!r.aggregated.empty()) r.aggregated_answer = r.aggregated.front().answer;
    return r;
}

template <language_model Model>
cot_result cot_decoding(Model& model, const text::tokenizer& tok, std::span<const std::int32_t> prompt,
                        const cot_options& options, executor_of<Model>& pool, const stream_callback& on_text = {}) {
    const std::int64_t V = model.vocab_size();
    const int k = static_cast<int>(std::min<std::int64_t>(std::max(options.k, 1), V));
    generation_options g;
    g.sampler = sampler_config::greedy();
    g.branches = k;
    g.max_tokens = options.max_tokens;
    g.stop_tokens = options.stop_tokens;
    g.stop_strings = options.stop_strings;
    g.reasoning = options.reasoning;
    g.loop = options.loop;

    // The first tokens need the prompt's logits: run the prompt alone first (a tiny cost next to k branches).
    auto probe = model.new_sequence(static_cast<std::int64_t>(prompt.size()));
    host_matrix<float> first(1, V);  // (1, V)
    {
        const typename Model::step s{prompt, &probe, first.view()};
        model.forward(std::span<const typename Model::step>(&s, 1), pool);
    }
    std::vector<std::int32_t> starts;
    const std::span<const float> first_logits(first.row(0), std::size_t(V));
    require_finite_logits(first_logits, "cot_decoding: the prompt's last logits (position " +
                                            std::to_string(prompt.size()) + " of the sequence)");
    for (const token_logprob& t : top_logprobs(first_logits, k)) starts.push_back(t.id);

    return score_cot_branches(detail::run_branches(model, tok, prompt, g, starts, pool, on_text), starts, options.answer);
}

}  // namespace moe::decoding
