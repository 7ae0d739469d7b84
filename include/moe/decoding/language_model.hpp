// moe/decoding/language_model.hpp — what the generator needs from a model type. Any backend's model has it
// (moe::cpu::model<D>; the tests' scripted stub model too, so every decoding rule is tested on exact logits), and
// nothing here names a backend: the model says what it runs on (M::executor — a moe::thread_pool on the CPU, a
// stream on a GPU) and is handed one by whoever calls the decoding functions.
//
//   M::executor                                 what forward() runs on
//   m.vocab_size()                              V
//   m.max_positions()                           longest sequence
//   m.new_sequence(capacity)                    an empty sequence (its caches)
//   Model::share(std::move(sequence))           freezes a prefilled prompt → shared_ptr<const sequence>
//   m.new_sequence(capacity, shared_prompt)     a branch reading the prompt's positions in place (no copy)
//   m.forward(std::span<const step>, exec)      several sequences at once; step{tokens, state, logits}
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "moe/tensor/matrix_view.hpp"

namespace moe::decoding {

// What a model of type M runs on.
template <class M>
using executor_of = typename M::executor;

template <class M>
concept language_model = requires(M& m, const M& cm, typename M::sequence& s,
                                  std::shared_ptr<const typename M::sequence> shared,
                                  std::span<const typename M::step> steps, executor_of<M>& exec) {
    { cm.vocab_size() } -> std::convertible_to<std::int64_t>;
    { cm.max_positions() } -> std::convertible_to<std::int64_t>;
    { cm.new_sequence(std::int64_t{}) } -> std::same_as<typename M::sequence>;
    { M::share(std::move(s)) } -> std::same_as<std::shared_ptr<const typename M::sequence>>;
    { cm.new_sequence(std::int64_t{}, shared) } -> std::same_as<typename M::sequence>;
    { s.size() } -> std::convertible_to<std::int64_t>;
    m.forward(steps, exec);
    // step is an aggregate {tokens (T), state, logits (T, V) or (1, V)}
    { typename M::step{std::span<const std::int32_t>{}, &s, matrix_view<float>{}} };
};

}  // namespace moe::decoding
