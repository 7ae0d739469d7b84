// moe/decoding/self_consistency.hpp — self-consistency (Wang et al., arXiv 2203.11171): sample several reasoning
// paths of one prompt (its KV cache computed once and shared), extract each path's answer, majority vote.
//
// Votes: one per path whose answer text yields an answer (answer.hpp). The winner has the most votes; a tie goes
// to the answer that appears first in branch order (the lowest branch index among its voters) — a rule that
// depends on the seed only, not on the answers' spelling. `votes` lists every answer: count descending, then
// first branch ascending.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "moe/decoding/answer.hpp"
#include "moe/decoding/generator.hpp"

namespace moe::decoding {

struct self_consistency_options {
    generation_options generation;  // .branches = number of paths (the paper: 40 at temperature 0.7)
    answer_rule answer;
};

struct vote_count {
    std::string answer;
    int votes = 0;
    std::size_t first_branch = 0;  // lowest branch index that gave it
};

struct self_consistency_result {
    std::optional<std::string> answer;                         // the majority answer (none when no path had one)
    std::vector<vote_count> votes;                             // count desc, first branch asc
    std::vector<std::optional<extracted_answer>> path_answers;  // per branch
    generation_result generation;
};

// The vote itself (separate so it is tested on its own).
inline std::vector<vote_count> count_votes(const std::vector<std::optional<extracted_answer>>& answers) {
    std::vector<vote_count> votes;
    std::map<std::string, std::size_t> where;
    for (std::size_t b = 0; b < answers.size(); ++b) {
        if (!answers[b]) continue;
        const auto [it, fresh] = where.emplace(answers[b]->value, votes.size());
        if (fresh) votes.push_back({answers[b]->value, 0, b});
        ++votes[it->second].votes;
    }
    std::stable_sort(votes.begin(), votes.end(), [](const vote_count& a, const vote_count& b) {
        return a.votes > b.votes || (a.votes == b.votes && a.first_branch < b.first_branch);
    });
    return votes;
}

// Each path's answer and the vote over a finished generation (also used by moe/serving, which generates the paths
// in its running batch).
inline self_consistency_result tally_votes(generation_result generation, const answer_rule& rule) {
    self_consistency_result r;
    r.generation = std::move(generation);
    for (const branch_result& b : r.generation.branches) r.path_answers.push_back(extract_answer(b.answer, rule));
    r.votes = count_votes(r.path_answers);
    if (!r.votes.empty()) r.answer = r.votes.front().answer;
    return r;
}

template <language_model Model>
self_consistency_result self_consistency(Model& model, const text::tokenizer& tok,
                                         std::span<const std::int32_t> prompt, const self_consistency_options& options,
                                         executor_of<Model>& pool, const stream_callback& on_text = {}) {
    return tally_votes(generate(model, tok, prompt, options.generation, pool, on_text), options.answer);
}

}  // namespace moe::decoding
