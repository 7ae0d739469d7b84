// moe/decoding/sampler.hpp — the sampler chain: penalties, top-k, top-p, min-p, temperature, then a draw.
//
// Default order is llama.cpp's:  penalties → top-k → top-p → min-p → temperature → sample
// (temperature last, so the truncations see the model's own distribution). Hugging Face and vLLM apply temperature
// first; `sampler_orders::hugging_face` gives that order. Any order of the stages can be configured.
//
// Arithmetic (each stage works on the surviving candidates, V = vocabulary):
//   penalties    over the last `penalty_last_n` tokens of the history (prompt included), per token with count c > 0:
//                l ← l > 0 ? l / repeat : l · repeat;  l ← l − c · frequency − presence        (llama.cpp, in float)
//   top-k        keep the k largest logits (k ≤ 0: off)
//   top-p        p = softmax(l); keep the shortest prefix, by descending l, whose Σp ≥ top_p (≥ 1: off; ≥ 1 kept)
//   min-p        keep p_i ≥ min_p · p_max, i.e. exp(l_i − l_max) ≥ min_p (≤ 0: off)
//   temperature  l ← l / T; T ≤ 0 means greedy: only the largest logit survives
//   sample       p = softmax(l) in double; u = rng.uniform(); the first candidate, by descending l, whose running
//                Σp exceeds u
// Ties are always broken by the smaller token id (candidates are ordered by (logit desc, id asc)), so the chain is a
// pure function of (logits, history, config, random numbers) and independent of the thread count.
// Raw logits must be finite: sample, top_logprobs and statistics throw non_finite_logits otherwise
// (finite_logits.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "moe/error.hpp"
#include "moe/decoding/finite_logits.hpp"
#include "moe/decoding/rng.hpp"

namespace moe::decoding {

enum class sampler_stage { penalties, top_k, top_p, min_p, temperature };

namespace sampler_orders {
inline const std::vector<sampler_stage> llama_cpp{sampler_stage::penalties, sampler_stage::top_k, sampler_stage::top_p,
                                                  sampler_stage::min_p, sampler_stage::temperature};
inline const std::vector<sampler_stage> hugging_face{sampler_stage::penalties, sampler_stage::temperature,
                                                     sampler_stage::top_k, sampler_stage::top_p, sampler_stage::min_p};
}  // namespace sampler_orders

// Defaults are llama.cpp's (llama-cli): temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, penalties off.
struct sampler_config {
    float temperature = 0.8f;  // ≤ 0: greedy
    int top_k = 40;            // ≤ 0: off
    float top_p = 0.95f;       // ≥ 1: off
    float min_p = 0.05f;       // ≤ 0: off
    float repeat_penalty = 1.0f;     // 1: off (CTRL-style, divides positive logits)
    float presence_penalty = 0.0f;   // 0: off
    float frequency_penalty = 0.0f;  // 0: off
    int penalty_last_n = 64;         // tokens of history the penalties look at; -1: all of it
    std::vector<sampler_stage> order = sampler_orders::llama_cpp;

    static sampler_config greedy() {
        sampler_config c;
        c.temperature = 0.0f;
        c.top_k = 0;
        c.top_p = 1.0f;
        c.min_p = 0.0f;
        return c;
    }
};

struct candidate {
    std::int32_t id;
    float logit;  // after the stages applied so far
};

struct token_logprob {
    std::int32_t id;
    double logprob;
};

// Largest logit first, ties by smaller id: the one ordering rule of this file.
inline bool before(const candidate& a, const candidate& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); }

// The chain without the draw: the surviving candidates, ordered by `before`, logits as the last stage left them.
// logits: (V) raw; history: earlier tokens (prompt + generated), for the penalties.
inline std::vector<candidate> apply_sampler_chain(std::span<const float> logits, std::span<const std::int32_t> history,
                                                  const sampler_config& config) {
    require_finite_logits(logits, "sampler");
    std::vector<candidate> c(logits.size());
    for (std::size_t i = 0; i < logits.size(); ++i) c[i] = {static_cast<std::int32_t>(i), logits[i]};
    bool sorted = false;
    auto sort_all = [&] {
        if (!sorted) std::sort(c.begin(), c.end(), before);
        sorted = true;
    };
    for (const sampler_stage stage : config.order) {
        switch (stage) {
            case sampler_stage::penalties: {
                if (config.repeat_penalty == 1.0f && config.presence_penalty == 0.0f && config.frequency_penalty == 0.0f)
                    break;
                const std::size_t n = config.penalty_last_n < 0
                                          ? history.size()
                                          : std::min(history.size(), static_cast<std::size_t>(config.penalty_last_n));
                std::unordered_map<std::int32_t, int> count;
                for (const std::int32_t t : history.subspan(history.size() - n)) ++count[t];
                for (candidate& x : c) {
                    const auto it = count.find(x.id);
                    if (it == count.end()) continue;
                    x.logit = x.logit > 0.0f ? x.logit / config.repeat_penalty : x.logit * config.repeat_penalty;
                    x.logit -= static_cast<float>(it->second) * config.frequency_penalty + config.presence_penalty;
                }
                sorted = false;
                break;
            }
            case sampler_stage::top_k:
                if (config.top_k > 0 && static_cast<std::size_t>(config.top_k) < c.size()) {
                    if (!sorted) std::partial_sort(c.begin(), c.begin() + config.top_k, c.end(), before);
                    c.resize(static_cast<std::size_t>(config.top_k));
                    sorted = true;
                }
                break;
            case sampler_stage::top_p: {
                if (config.top_p >= 1.0f || c.size() <= 1) break;
                sort_all();
                double z = 0.0;
                for (const candidate& x : c) z += std::exp(double(x.logit) - double(c[0].logit));
                double cumulative = 0.0;
                std::size_t keep = c.size();
                for (std::size_t i = 0; i < c.size(); ++i) {
                    cumulative += std::exp(double(c[i].logit) - double(c[0].logit)) / z;
                    if (cumulative >= double(config.top_p)) {
                        keep = i + 1;
                        break;
                    }
                }
                c.resize(keep);
                break;
            }
            case sampler_stage::min_p: {
                if (config.min_p <= 0.0f || c.empty()) break;
                float max = c[0].logit;
                for (const candidate& x : c) max = std::max(max, x.logit);
                std::erase_if(c, [&](const candidate& x) { return std::exp(double(x.logit) - double(max)) < double(config.min_p); });
                break;
            }
            case sampler_stage::temperature:
                if (config.temperature <= 0.0f) {
                    const auto best = std::min_element(c.begin(), c.end(), before);
                    c = {*best};
                    sorted = true;
                } else if (config.temperature != 1.0f) {
                    // A tiny temperature (≲ 1e-38 for logits near 1) overflows l / T to ±inf, and inf − inf is NaN
                    // in the softmax, which then picked the least likely candidate. Softmax ignores a shift, so
                    // then divide l − max instead: the best logits stay 0 and the rest go to −inf, the greedy limit
                    // of T → 0. Temperatures that do not overflow keep the plain l / T.
                    const float T = config.temperature;
                    float max = -std::numeric_limits<float>::infinity();
                    bool overflows = false;
                    for (const candidate& x : c) {
                        max = std::max(max, x.logit);
                        overflows |= std::isinf(x.logit / T) && !std::isinf(x.logit);
                    }
                    for (candidate& x : c) {
                        if (!overflows) {
                            x.logit /= T;
                            continue;
                        }
                        const double shifted = (double(x.logit) - double(max)) / double(T);
                        x.logit = shifted < -double(std::numeric_limits<float>::max())
                                      ? -std::numeric_limits<float>::infinity()
                                      : float(shifted);
                    }
                }
                break;
        }
    }
    sort_all();
    return c;
}

// softmax of the candidates' logits, in their order (double).
inline std::vector<double> probabilities(std::span<const candidate> c) {
    std::vector<double> p(c.size());
    if (c.empty()) return p;
    double max = c[0].logit, z = 0.0;
    for (const candidate& x : c) max = std::max(max, double(x.logit));
    for (std::size_t i = 0; i < c.size(); ++i) z += (p[i] = std::exp(double(c[i].logit) - max));
    for (double& v : p) v /= z;
    return p;
}

// One token: the chain, then a draw with one number from `random` (none when one candidate is left).
inline std::int32_t sample(std::span<const float> logits, std::span<const std::int32_t> history,
                           const sampler_config& config, rng& random) {
    const std::vector<candidate> c = apply_sampler_chain(logits, history, config);
    if (c.empty()) throw moe::logic_error("sampler: no candidate survived the chain");
    if (c.size() == 1) return c[0].id;
    const std::vector<double> p = probabilities(c);
    const double u = random.uniform();
    double cumulative = 0.0;
    for (std::size_t i = 0; i < c.size(); ++i) {
        cumulative += p[i];
        if (u < cumulative) return c[i].id;
    }
    return c.back().id;  // u within rounding of 1
}

// log-softmax of raw logits for the n most likely tokens (ordered by `before`).
inline std::vector<token_logprob> top_logprobs(std::span<const float> logits, int n) {
    std::vector<token_logprob> out;
    if (n <= 0 || logits.empty()) return out;
    require_finite_logits(logits, "top_logprobs");
    const double max = *std::max_element(logits.begin(), logits.end());
    double z = 0.0;
    for (const float l : logits) z += std::exp(double(l) - max);
    std::vector<candidate> c(logits.size());
    for (std::size_t i = 0; i < logits.size(); ++i) c[i] = {static_cast<std::int32_t>(i), logits[i]};
    const std::size_t k = std::min(c.size(), static_cast<std::size_t>(n));
    std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(k), c.end(), before);
    for (std::size_t i = 0; i < k; ++i) out.push_back({c[i].id, double(c[i].logit) - max - std::log(z)});
    return out;
}

// Log-probability of `id` and the margin p(top1) − p(top2), both from the softmax of the raw logits (double).
// The margin is CoT-decoding's per-token confidence term.
struct step_statistics {
    double logprob = 0.0;
    double margin = 0.0;
};
inline step_statistics statistics(std::span<const float> logits, std::int32_t id) {
    if (id < 0 || static_cast<std::size_t>(id) >= logits.size())
        throw moe::out_of_range("sampler: token id " + std::to_string(id) + " is outside the vocabulary");
    require_finite_logits(logits, "sampler statistics");
    const double max = *std::max_element(logits.begin(), logits.end());
    double z = 0.0, first = -INFINITY, second = -INFINITY;
    for (const float l : logits) {
        z += std::exp(double(l) - max);
        if (double(l) > first) {
            second = first;
            first = double(l);
        } else if (double(l) > second) {
            second = double(l);
        }
    }
    const double p1 = std::exp(first - max) / z, p2 = logits.size() > 1 ? std::exp(second - max) / z : 0.0;
    return {double(logits[static_cast<std::size_t>(id)]) - max - std::log(z), p1 - p2};
}

}  // namespace moe::decoding
