// moe/ledger/metered_model.hpp — attaches a ledger tracker to generation: a model wrapper that counts every forward.
//
//   moe::ledger::metered_model metered(model, tracker, think_open_id, think_close_id, moe::ledger::phase::answer);
//   moe::decoding::generate(metered, tokenizer, prompt, options, pool, on_text);   // then tracker.finish()
//
// It satisfies the same language_model interface as the model it wraps (moe/decoding), so the generator is unchanged.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "moe/ledger/ledger.hpp"

namespace moe::ledger {

// A language_model that forwards to the real one and counts every forward call in a ledger tracker. A step's phase
// follows the token it feeds: a prefill is the prompt; <think> opens thinking, </think> (and what follows) is the
// answer. In a batched call the time goes to the phase most of its tokens are in.
template <class Model>
class metered_model {
   public:
    using sequence = typename Model::sequence;
    using step = typename Model::step;
    using executor = typename Model::executor;

    metered_model(Model& model, tracker& phase_tracker, std::int32_t open_id, std::int32_t close_id,
                  phase first_generated)
        : model_(&model), tracker_(&phase_tracker), open_(open_id), close_(close_id), first_(first_generated) {}

    std::int64_t vocab_size() const { return model_->vocab_size(); }
    std::int64_t max_positions() const { return model_->max_positions(); }
    sequence new_sequence(std::int64_t capacity) const { return model_->new_sequence(capacity); }
    sequence new_sequence(std::int64_t capacity, std::shared_ptr<const sequence> prompt) const {
        return model_->new_sequence(capacity, std::move(prompt));
    }
    static std::shared_ptr<const sequence> share(sequence&& s) { return Model::share(std::move(s)); }

    void forward(std::span<const step> steps, executor& pool) {
        struct counted {
            phase p;
            std::int64_t tokens, context, rows;
        };
        std::vector<counted> calls;
        std::map<phase, std::int64_t> tokens_in;
        for (const step& s : steps) {
            const std::int64_t context = s.state->size();
            phase p = phase::prompt;  // an empty sequence is being prefilled
            if (context > 0 && !s.tokens.empty()) {
                phase& now = phase_of_.try_emplace(s.state, first_).first->second;
                if (s.tokens.back() == open_) now = phase::thinking;
                if (s.tokens.back() == close_) now = phase::answer;
                p = now;
            }
            calls.push_back({p, std::int64_t(s.tokens.size()), context, s.logits.rows});
            tokens_in[p] += std::int64_t(s.tokens.size());
        }
        const phase main = std::max_element(tokens_in.begin(), tokens_in.end(), [](const auto& a, const auto& b) {
                               return a.second < b.second;
                           })->first;
        // Minority phases first, the main phase last: it stays open while the model runs.
        std::stable_partition(calls.begin(), calls.end(), [&](const counted& c) { return c.p != main; });
        for (const counted& c : calls) {
            if (open_phase_ != c.p) tracker_->begin(c.p);
            open_phase_ = c.p;
            tracker_->forward(c.tokens, c.context, c.rows);
        }
        model_->forward(steps, pool);
    }

   private:
    Model* model_;
    tracker* tracker_;
    std::int32_t open_, close_;
    phase first_;
    std::optional<phase> open_phase_;
    std::map<const sequence*, phase> phase_of_;
};

}  // namespace moe::ledger
