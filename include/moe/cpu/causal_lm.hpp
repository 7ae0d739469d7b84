// moe/cpu/causal_lm.hpp — a whole causal language model on the CPU: moe::cpu::model<Description>.
//
//   using my_model = moe::cpu::model<moe::qwen3_moe<card>>;          // a family's description (moe/models/)
//   auto m = moe::load_model<my_model>("/models/Qwen3-30B-A3B");     // or my_model(model_weights)
//
// token ids → embedding → every layer of every stack in order → final RMSNorm → LM head → logits.
// V = vocab_size, D = model_width, T = new tokens of a call. The layers are the CPU layers that execute each node
// of the description (cpu/layer_for.hpp); the model is built from backend-free weights (layers/model_weights.hpp).
//
// State of a sequence (its caches) lives in a model::sequence, so one model serves many sequences;
// forward() takes several sequences of different lengths at once and runs their feed-forward layers together.
// Its executor is a moe::thread_pool, handed to each forward() call.
//
// Prompt sharing: share(std::move(prompt)) freezes a sequence; new_sequence(capacity, shared) then makes branches
// whose caches read the prompt's positions in place (one copy of the prompt's KV cache for every branch; each
// branch allocates and appends only its own positions). Sampling several continuations of one prompt uses it.
//
// Cache memory: a sequence's capacity is a limit, not an allocation — caches grow on demand (kv_cache.hpp), so
// new_sequence(1 << 20) costs nothing until positions are written. cache_bytes_per_position() × positions is what
// a full sequence would hold; decoding/memory_budget.hpp checks branches × positions against the memory available.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "moe/config/model_config.hpp"
#include "moe/cpu/attention/kv_cache.hpp"
#include "moe/cpu/decoder_layer.hpp"
#include "moe/cpu/layer_for.hpp"
#include "moe/cpu/linear.hpp"
#include "moe/cpu/rms_norm.hpp"
#include "moe/error.hpp"
#include "moe/layers/model_weights.hpp"
#include "moe/model/description.hpp"
#include "moe/tensor/read_rows.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

// A token id outside [0, vocab_size) or a sequence longer than the model's context.
class invalid_input : public error_with<std::out_of_range> {
   public:
    using error_with::error_with;
};

template <class Description>
class model {
    static_assert(moe::model::description<Description>,
                  "moe::cpu::model: give a whole-model description (moe::model::causal_lm<...>, or a family's type "
                  "such as moe::qwen3_moe<card>)");
};

template <causal_lm_config Config, class... Stacks>
class model<moe::model::causal_lm<Config, Stacks...>> {
    template <class Stack>
    using cpu_layer = layer_for_t<typename Stack::layer>;  // the CPU layer of one stack's description

   public:
    using description = moe::model::causal_lm<Config, Stacks...>;
    using executor = thread_pool;  // what forward() runs on (decoding/language_model.hpp)
    static constexpr causal_lm_config config = Config;
    using storage = storage_t<Config.weights>;
    using vector = vector_storage_t<Config.weights>;
    static constexpr std::int64_t V = Config.vocab_size, D = Config.model_width;
    static constexpr int layer_count = description::layer_count;
    using layers_type = std::tuple<std::vector<cpu_layer<Stacks>>...>;

    // The caches of one sequence: one per layer, each holding up to `capacity` positions.
    class sequence {
       public:
        using caches_type = std::tuple<std::vector<typename cpu_layer<Stacks>::cache_type>...>;

        std::int64_t size() const { return size_; }  // positions processed so far, shared ones included
        std::int64_t capacity() const { return capacity_; }
        std::int64_t shared_positions() const { return prefix_ ? prefix_->size_ : 0; }  // read from the prompt
        // Forgets the positions this sequence appended (back to its shared prompt, or empty).
        void clear() {
            size_ = shared_positions();
            std::apply([](auto&... per_stack) { (clear_all(per_stack), ...); }, caches_);
        }
        // Cache memory this sequence owns; a shared prompt is counted in the prompt's sequence only.
        std::int64_t cache_bytes() const {
            std::int64_t bytes = 0;
            std::apply([&](const auto&... per_stack) { ((bytes += bytes_of(per_stack)), ...); }, caches_);
            return bytes;
        }
        // Per-layer caches, one vector per model::stack (tests check where shared rows live).
        const caches_type& caches() const { return caches_; }

       private:
        friend class model;
        template <class Caches>
        static void clear_all(Caches& caches) {
            for (auto& c : caches) c.clear();
        }
        template <class Caches>
        static std::int64_t bytes_of(const Caches& caches) {
            std::int64_t bytes = 0;
            for (const auto& c : caches) bytes += c.bytes_allocated();
            return bytes;
        }
        caches_type caches_;
        std::int64_t size_ = 0;
        std::int64_t capacity_ = 0;
        std::shared_ptr<const sequence> prefix_;  // keeps a shared prompt alive and unchanged
    };

    // One sequence's part of a batched forward().
    struct step {
        std::span<const std::int32_t> tokens;  // (T_s) new token ids
        sequence* state;                       // its caches, advanced by T_s
        matrix_view<float> logits;             // (T_s, V) every position, or (1, V) the last one only
    };

    // weights.embedding: (V, D); final_norm: (1, D); lm_head: (V, D), ignored (may be empty) when tied_embeddings.
    // The views must outlive the model unless weights.keep_alive owns what they point into. Throws
    // moe::shape_error naming a mis-shaped tensor, a stack with the wrong number of layers.
    explicit model(const model_weights<description>& weights)
        : embedding_(weights.embedding), layers_(make_layers(weights.layers, std::index_sequence_for<Stacks...>{})),
          final_norm_(weights.final_norm), lm_head_(Config.tied_embeddings ? weights.embedding : weights.lm_head),
          eps_(weights.rms_norm_eps), max_positions_(weights.max_positions), keep_alive_(weights.keep_alive) {
        require_shape("causal_lm", "embed_tokens", embedding_, V, D);
        require_shape("causal_lm", "norm", final_norm_, 1, D);
        require_shape("causal_lm", "lm_head", lm_head_, V, D);
        if (max_positions_ < 1) throw shape_error("causal_lm: max_positions must be at least 1");
    }

    // A new, empty sequence able to hold `capacity` positions (at most the model's context).
    sequence new_sequence(std::int64_t capacity) const {
        if (capacity < 1 || capacity > max_positions_) {
            throw invalid_input("causal_lm: a sequence capacity of " + std::to_string(capacity) +
                                " is outside [1, " + std::to_string(max_positions_) +
                                "] (max_position_embeddings of this model)");
        }
        sequence s;
        s.capacity_ = capacity;
        make_caches(s, capacity, std::index_sequence_for<Stacks...>{});
        return s;
    }

    // KV-cache bytes one position of a sequence holds over all layers (keys and values, or MLA's latent rows).
    std::int64_t cache_bytes_per_position() const {
        std::int64_t bytes = 0;
        std::apply([&](const auto&... stack) {
            ((void)[&] { for (const auto& layer : stack) bytes += layer.make_cache(1).bytes_per_token(); }(), ...);
        }, layers_);
        return bytes;
    }

    // Freezes a sequence (typically a prefilled prompt) so that branches can share its positions.
    static std::shared_ptr<const sequence> share(sequence&& prompt) {
        if (prompt.prefix_) throw moe::invalid_argument("causal_lm::share: the sequence already shares a prompt");
        return std::make_shared<const sequence>(std::move(prompt));
    }

    // A branch of a shared prompt: positions [0, prompt->size()) are read from the prompt's caches in place, the
    // branch holds room for `capacity` − prompt->size() more (capacity counts the shared positions too).
    sequence new_sequence(std::int64_t capacity, std::shared_ptr<const sequence> prompt) const {
        if (!prompt) return new_sequence(capacity);
        if (capacity < prompt->size_ || capacity > max_positions_) {
            throw invalid_input("causal_lm: a branch capacity of " + std::to_string(capacity) + " is outside [" +
                                std::to_string(prompt->size_) + " (the shared prompt), " +
                                std::to_string(max_positions_) + "]");
        }
        sequence s;
        s.capacity_ = capacity;
        s.size_ = prompt->size_;
        share_caches(s, *prompt, capacity, std::index_sequence_for<Stacks...>{});
        s.prefix_ = std::move(prompt);
        return s;
    }

    static constexpr std::int64_t vocab_size() { return V; }

    // Appends `tokens` to one sequence; logits: (T, V) for every new position or (1, V) for the last.
    void forward(std::span<const std::int32_t> tokens, sequence& state, matrix_view<float> logits, thread_pool& pool) {
        const step one{tokens, &state, logits};
        forward(std::span<const step>(&one, 1), pool);
    }

    // Several independent sequences in one call. Every input is checked before any state changes: a bad token id,
    // a sequence past its capacity or a logits matrix of the wrong shape throws and leaves every sequence as it was.
    void forward(std::span<const step> steps, thread_pool& pool) {
        std::vector<std::int64_t> start(steps.size() + 1, 0);
        for (std::size_t s = 0; s < steps.size(); ++s) {
            validate(steps[s], s);
            // One sequence twice in a call would append to its caches twice from the same position.
            for (std::size_t earlier = 0; earlier < s; ++earlier) {
                if (steps[earlier].state == steps[s].state) {
                    throw moe::invalid_argument("causal_lm::forward: sequences " + std::to_string(earlier) + " and " +
                                                std::to_string(s) + " of the call are the same sequence; give each "
                                                "sequence once per call");
                }
            }
            start[s + 1] = start[s] + static_cast<std::int64_t>(steps[s].tokens.size());
        }
        // Cache rows for every new position, before anything is computed: an allocation that fails leaves every
        // sequence as it was.
        for (const step& st : steps) reserve_caches(*st.state, st.state->size_ + static_cast<std::int64_t>(st.tokens.size()));
        const std::int64_t T = start.back();
        hidden_.resize(T, D);
        for (std::size_t s = 0; s < steps.size(); ++s) {
            for (std::size_t i = 0; i < steps[s].tokens.size(); ++i) {
                float* out = hidden_.row(start[s] + static_cast<std::int64_t>(i));
                read_matrix_rows(embedding_, steps[s].tokens[i], 1, out);  // widened / dequantized to fp32
            }
        }
        run_stacks(start, steps, pool, std::index_sequence_for<Stacks...>{});
        for (const step& st : steps) st.state->size_ += static_cast<std::int64_t>(st.tokens.size());

        // Final norm and LM head only for the rows whose logits are asked for.
        for (std::size_t s = 0; s < steps.size(); ++s) {
            const std::int64_t count = static_cast<std::int64_t>(steps[s].tokens.size());
            if (count == 0) continue;
            const std::int64_t rows = steps[s].logits.rows;  // count, or 1 for the last position
            const std::int64_t first = start[s + 1] - rows;
            normed_.resize(rows, D);
            rms_norm<vector>(matrix_view<const float>{hidden_.row(first), rows, D}, final_norm_, eps_, normed_.view());
            linear<storage>(normed_.view(), lm_head_, steps[s].logits, pool);
        }
    }

    // Parameters of the whole model, and those one token reads: embedding row, layers' active parts, LM head.
    static constexpr std::int64_t parameters() { return description::parameters(); }
    static constexpr std::int64_t active_parameters() { return description::active_parameters(); }

    std::int64_t max_positions() const { return max_positions_; }
    layers_type& layers() { return layers_; }

   private:
    void validate(const step& st, std::size_t index) const {
        const std::string where = "causal_lm::forward: sequence " + std::to_string(index);
        if (st.state == nullptr) throw moe::invalid_argument(where + " has no state (make one with new_sequence)");
        const std::int64_t count = static_cast<std::int64_t>(st.tokens.size());
        for (std::int64_t i = 0; i < count; ++i) {
            const std::int32_t id = st.tokens[static_cast<std::size_t>(i)];
            if (id < 0 || id >= V) {
                throw invalid_input(where + ": token id " + std::to_string(id) + " at index " + std::to_string(i) +
                                    " of the call (position " + std::to_string(st.state->size_ + i) +
                                    " of the sequence) is outside the vocabulary [0, " + std::to_string(V) + ")");
            }
        }
        if (st.state->size_ + count > st.state->capacity_) {
            throw invalid_input(where + ": " + std::to_string(st.state->size_) + " positions + " +
                                std::to_string(count) + " new tokens exceed the sequence capacity " +
                                std::to_string(st.state->capacity_) + " (the model's context is " +
                                std::to_string(max_positions_) + ")");
        }
        if (count > 0 && !(st.logits.cols == V && (st.logits.rows == count || st.logits.rows == 1) && st.logits.data)) {
            throw shape_error(where + ": logits have shape " + shape_string(st.logits.rows, st.logits.cols) +
                              ", expected " + shape_string(count, V) + " or " + shape_string(1, V));
        }
    }

    template <std::size_t... I>
    static layers_type make_layers(const typename model_weights<description>::layers_type& weights,
                                   std::index_sequence<I...>) {
        using stacks = std::tuple<Stacks...>;
        const bool counts_match =
            ((std::get<I>(weights).size() == static_cast<std::size_t>(std::tuple_element_t<I, stacks>::count)) && ...);
        if (!counts_match) {
            throw shape_error("causal_lm: a model::stack was given a different number of layers than its type says");
        }
        layers_type layers;
        ((void)[&] {
            using node = typename std::tuple_element_t<I, stacks>::layer;
            for (const auto& w : std::get<I>(weights)) std::get<I>(layers).push_back(layer_for<node>::make(w));
        }(), ...);
        return layers;
    }

    template <std::size_t... I>
    void make_caches(sequence& s, std::int64_t capacity, std::index_sequence<I...>) const {
        ((void)[&] {
            for (const auto& layer : std::get<I>(layers_)) std::get<I>(s.caches_).push_back(layer.make_cache(capacity));
        }(), ...);
    }

    static void reserve_caches(sequence& s, std::int64_t positions) {
        std::apply([&](auto&... per_stack) { ((void)[&] { for (auto& c : per_stack) c.reserve(positions); }(), ...); },
                   s.caches_);
    }

    template <std::size_t... I>
    static void share_caches(sequence& s, const sequence& prompt, std::int64_t capacity, std::index_sequence<I...>) {
        ((void)[&] {
            using cache_type = typename cpu_layer<std::tuple_element_t<I, std::tuple<Stacks...>>>::cache_type;
            for (const auto& c : std::get<I>(prompt.caches_)) std::get<I>(s.caches_).push_back(cache_type::sharing(c, capacity));
        }(), ...);
    }

    template <std::size_t... I>
    void run_stacks(const std::vector<std::int64_t>& start, std::span<const step> steps, thread_pool& pool,
                    std::index_sequence<I...>) {
        ((void)[&] {
            auto& stack = std::get<I>(layers_);
            using cache_type = typename cpu_layer<std::tuple_element_t<I, std::tuple<Stacks...>>>::cache_type;
            std::vector<cache_type*> caches(steps.size());
            for (std::size_t l = 0; l < stack.size(); ++l) {
                for (std::size_t s = 0; s < steps.size(); ++s) caches[s] = &std::get<I>(steps[s].state->caches_)[l];
                stack[l].forward(hidden_.view(), start, caches, pool);
            }
        }(), ...);
    }

    matrix_view<const storage> embedding_;  // (V, D)
    layers_type layers_;
    matrix_view<const vector> final_norm_;   // (1, D)
    matrix_view<const storage> lm_head_;     // (V, D)
    float eps_;
    std::int64_t max_positions_;
    std::shared_ptr<const void> keep_alive_;
    host_matrix<float> hidden_;  // (T, D) residual stream of every sequence's new tokens
    host_matrix<float> normed_;  // (rows, D)
};

}  // namespace moe::cpu
