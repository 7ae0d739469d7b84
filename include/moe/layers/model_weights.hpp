// moe/layers/model_weights.hpp — everything a whole model reads, as backend-free views over memory someone else
// owns (a memory-mapped checkpoint, converted tensors, random test weights), plus the values config.json adds.
//
//   auto weights = moe::load_weights<my_description>("/models/Qwen3-30B-A3B");   // moe/models/load_model.hpp
//   moe::cpu::model<my_description> cpu_model(weights);                          // a backend executes it
//
// V = vocab_size, D = model_width.
#pragma once

#include <cstdint>
#include <memory>
#include <tuple>
#include <vector>

#include "moe/config/precision.hpp"
#include "moe/layers/layer_weights.hpp"
#include "moe/model/description.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe {

template <class Description>
struct model_weights {
    static_assert(model::description<Description>,
                  "moe::model_weights: give a whole-model description (moe::model::causal_lm<...>)");
};

template <causal_lm_config Lm, class... Stacks>
struct model_weights<model::causal_lm<Lm, Stacks...>> {
    using description = model::causal_lm<Lm, Stacks...>;
    using storage = storage_t<Lm.weights>;
    using vector = vector_storage_t<Lm.weights>;
    // One vector per model::stack, holding that stack's layers in order.
    using layers_type = std::tuple<std::vector<layer_weights<typename Stacks::layer>>...>;

    matrix_view<const storage> embedding;   // (V, D) embed_tokens
    layers_type layers;
    matrix_view<const vector> final_norm;   // (1, D) norm
    matrix_view<const storage> lm_head;     // (V, D); empty when tied_embeddings (the embedding is the head)
    float rms_norm_eps = 1e-6f;
    std::int64_t max_positions = 0;         // longest sequence the model accepts
    std::shared_ptr<const void> keep_alive; // owns whatever the views point into
};

}  // namespace moe
