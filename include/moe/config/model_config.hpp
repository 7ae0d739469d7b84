// moe/config/model_config.hpp — the parts of a causal language model outside its decoder layers.
//
// The decoder layers are description nodes of their own (moe::model::decoder<Attention, FeedForward>, stacked with
// moe::model::stack, moe/model/description.hpp); this value fixes the embedding, the final norm, the LM head and
// which family's checkpoint names and config.json fields the model reads (its checkpoint_conventions).
#pragma once

#include <string_view>

#include "moe/config/precision.hpp"

namespace moe {

// Decides checkpoint tensor names and config.json field names (see moe/models/checkpoint_conventions.hpp).
enum class model_family { mixtral, qwen2_moe, qwen3_moe, olmoe, deepseek_v2, deepseek_v3 };

constexpr std::string_view name_of(model_family family) {
    switch (family) {
        case model_family::mixtral: return "mixtral";
        case model_family::qwen2_moe: return "qwen2_moe";
        case model_family::qwen3_moe: return "qwen3_moe";
        case model_family::olmoe: return "olmoe";
        case model_family::deepseek_v2: return "deepseek_v2";
        case model_family::deepseek_v3: return "deepseek_v3";
    }
    return "?";
}

struct causal_lm_config {
    model_family family = model_family::mixtral;
    int vocab_size = 0;            // V
    int model_width = 0;           // D: hidden_size
    bool tied_embeddings = false;  // tie_word_embeddings: the LM head is the embedding matrix
    weight_format weights = weight_format::fp32;  // embedding, LM head and norm weights

    friend constexpr bool operator==(const causal_lm_config&, const causal_lm_config&) = default;
};

template <causal_lm_config C>
struct check_causal_lm_config {
    static_assert(C.vocab_size >= 1, "causal_lm_config: set .vocab_size to at least 1");
    static_assert(C.model_width >= 1, "causal_lm_config: set .model_width (hidden_size) to at least 1");
    static_assert(whole_blocks<C.weights, "causal_lm_config.model_width", C.model_width>);
    static constexpr bool value = true;
};

}  // namespace moe
