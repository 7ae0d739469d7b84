// moe/decoding/language_model.hpp — what the generator needs from a model type (moe::cpu::causal_lm has it; the
// tests' scripted stub model has it too, so every decoding rule is tested on exact logits).
//
//   m.vocab_size()                              V
//   m.max_positions()                           longest sequence
//   m.new_sequence(capacity)                    an empty sequence (its caches)
//   Model::share(std::move(sequence))           freezes a prefilled prompt → shared_ptr<const sequence>
//   m.new_sequence(capacity, shared_prompt)     a branch reading the prompt's positions in place (no copy)
//   m.forward(std::span<const step>, pool)      several sequences at once; step{tokens, state, logits}
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "moe/runtime/thread_pool.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::decoding {

template <class M>
concept language_model = requires(M& m, const M& cm, typename M::sequence& s,
                                  std::shared_ptr<const typename M::sequence> shared,
                                  std::span<const typename M::step> steps, cpu::thread_pool& pool) {
    { cm.vocab_size() } -> std::convertible_to<std::int64_t>;
    { cm.max_positions() } -> std::convertible_to<std::int64_t>;
    { cm.new_sequence(std::int64_t{}) } -> std::same_as<typename M::sequence>;
    { M::share(std::move(s)) } -> std::same_as<std::shared_ptr<const typename M::sequence>>;
    { cm.new_sequence(std::int64_t{}, shared) } -> std::same_as<typename M::sequence>;
    { s.size() } -> std::convertible_to<std::int64_t>;
    m.forward(steps, pool);
    // step is an aggregate {tokens (T), state, logits (T, V) or (1, V)}
    { typename M::step{std::span<const std::int32_t>{}, &s, matrix_view<float>{}} };
};

}  // namespace moe::decoding
