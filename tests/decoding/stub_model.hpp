// tests/decoding/stub_model.hpp — a model type whose logits the test scripts, and a matching tiny tokenizer.
//
// stub_model satisfies moe::decoding::language_model: sequences hold token ids (a branch keeps a pointer to the
// shared prompt, like causal_lm), forward() asks the script for the next-token logits of each sequence given all
// its tokens, and records the batch size of every call so tests can check that live branches run together.
// Its executor is not a thread pool (the decoding code must not assume one): a counter of the calls it ran.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "moe/decoding/language_model.hpp"
#include "moe/tensor/matrix_view.hpp"
#include "moe/text/tokenizer.hpp"

namespace stub {

// Token ids of the stub tokenizer (byte-level: "Ġ" is a space, "Ã" "©" the two bytes of "é").
enum id : std::int32_t {
    think = 0, end_think = 1, eos = 2, a = 3, b = 4, space = 5, one = 6, two = 7, three = 8, four = 9,
    W = 10, i = 11, t = 12, Wa = 13, Wai = 14, wait = 15, e_lead = 16, e_tail = 17, dot = 18, x = 19, equals = 20
};
inline constexpr std::int64_t vocab = 21;

inline moe::text::tokenizer make_tokenizer() {
    return moe::text::tokenizer::from_json(R"({
      "added_tokens": [
        {"id": 0, "content": "<think>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
        {"id": 1, "content": "</think>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
        {"id": 2, "content": "<eos>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
      "normalizer": null, "pre_tokenizer": null, "post_processor": null,
      "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
      "model": {"type": "BPE", "vocab": {"a": 3, "b": 4, "\u0120": 5, "1": 6, "2": 7, "3": 8, "4": 9, "W": 10, "i": 11,
                "t": 12, "Wa": 13, "Wai": 14, "Wait": 15, "\u00c3": 16, "\u00a9": 17, ".": 18, "x": 19, "=": 20},
                "merges": ["W a", "Wa i", "Wai t"]}
    })", "stub tokenizer");
}

// (V) logits: `low` everywhere, the given (id, logit) pairs on top.
inline std::vector<float> logits(std::initializer_list<std::pair<std::int32_t, float>> top, float low = -20.0f) {
    std::vector<float> l(vocab, low);
    for (const auto& [id, value] : top) l[static_cast<std::size_t>(id)] = value;
    return l;
}
inline std::vector<float> certain(std::int32_t id) { return logits({{id, 10.0f}}); }

// What the stub model runs on: no threads, it counts the forward calls handed to it.
struct executor {
    int forward_calls = 0;
};

class model {
   public:
    using executor = stub::executor;
    // tokens: every token of the sequence so far (prompt + generated) → (V) next-token logits
    using script_fn = std::function<std::vector<float>(std::span<const std::int32_t>)>;

    struct sequence {
        std::vector<std::int32_t> own;
        std::shared_ptr<const sequence> prompt;
        std::int64_t capacity = 0;
        std::int64_t size() const { return (prompt ? prompt->size() : 0) + static_cast<std::int64_t>(own.size()); }
        std::vector<std::int32_t> tokens() const {
            std::vector<std::int32_t> all = prompt ? prompt->tokens() : std::vector<std::int32_t>{};
            all.insert(all.end(), own.begin(), own.end());
            return all;
        }
    };
    struct step {
        std::span<const std::int32_t> tokens;
        sequence* state;
        moe::matrix_view<float> logits;  // (1, V) or (T, V)
    };

    explicit model(script_fn script, std::int64_t max_positions = 4096)
        : script_(std::move(script)), max_positions_(max_positions) {}

    std::int64_t vocab_size() const { return vocab; }
    std::int64_t max_positions() const { return max_positions_; }
    sequence new_sequence(std::int64_t capacity) const { return sequence{{}, nullptr, capacity}; }
    static std::shared_ptr<const sequence> share(sequence&& s) { return std::make_shared<const sequence>(std::move(s)); }
    sequence new_sequence(std::int64_t capacity, std::shared_ptr<const sequence> prompt) const {
        return sequence{{}, std::move(prompt), capacity};
    }

    void forward(std::span<const step> steps, executor& exec) {
        ++exec.forward_calls;
        batch_sizes.push_back(steps.size());
        for (const step& s : steps) {
            for (std::size_t k = 0; k < s.tokens.size(); ++k) {
                s.state->own.push_back(s.tokens[k]);
                if (s.state->size() > s.state->capacity) throw std::length_error("stub: sequence over capacity");
                const bool wanted = s.logits.rows == static_cast<std::int64_t>(s.tokens.size()) || k + 1 == s.tokens.size();
                if (!wanted) continue;
                const std::vector<float> l = script_(s.state->tokens());
                float* row = s.logits.row(s.logits.rows == 1 ? 0 : static_cast<std::int64_t>(k));
                std::copy(l.begin(), l.end(), row);
            }
        }
    }

    std::vector<std::size_t> batch_sizes;  // sequences per forward() call, the prefill first

   private:
    script_fn script_;
    std::int64_t max_positions_;
};

static_assert(moe::decoding::language_model<model>);

}  // namespace stub
