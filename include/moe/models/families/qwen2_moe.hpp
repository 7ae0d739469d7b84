// moe/models/families/qwen2_moe.hpp — Qwen1.5-MoE / Qwen2-MoE (Qwen2MoeForCausalLM): q/k/v bias, a gated shared
// expert, every layer MoE, sliding_window only in the layers layer_types marks "sliding_attention".
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/families/compose.hpp"
#include "moe/models/families/qwen_common.hpp"

namespace moe {

struct qwen2_moe_config {
    int vocab_size = 0;
    int model_width = 0;
    int layers = 0;
    int heads = 0;
    int kv_heads = 0;
    int head_dim = 0;
    int expert_width = 0;         // moe_intermediate_size
    int experts = 0;              // num_experts
    int top_k = 0;                // num_experts_per_tok
    int shared_expert_width = 0;  // shared_expert_intermediate_size
    bool norm_topk_prob = false;
    bool tied_embeddings = false;
    weight_format weights = weight_format::bf16;
};

// The description of a qwen2_moe card (a class in between: GCC 12 fails on an alias of this alias otherwise).
template <qwen2_moe_config C>
struct qwen2_moe_description {
    using type = compose::gqa_moe_lm<
        compose::lm(model_family::qwen2_moe, C), compose::gqa(C, true, false, qk_norm_kind::none),
        compose::moe_ffn(C, compose::softmax_router(C.norm_topk_prob), 1, C.shared_expert_width, true), C.layers>;
};

template <qwen2_moe_config C>
using qwen2_moe = typename qwen2_moe_description<C>::type;

template <>
struct checkpoint_conventions<model_family::qwen2_moe> : default_conventions {
    static constexpr moe_tensor_names moe_names{.shared_experts = "shared_expert."};
    static constexpr int default_kv_heads = 16;  // Qwen2MoeConfig.num_key_value_heads

    static void check_model(hf_config& c, int /*dense_layers*/, int layers) {
        // layer_types: one "full_attention" / "sliding_attention" per layer ("attention" is the legacy full name).
        const auto it = c.json().find("layer_types");
        if (it == c.json().end() || it->is_null()) return;
        if (!it->is_array() || it->size() != std::size_t(layers)) {
            c.record("layer_types must be a list of " + std::to_string(layers) +
                     " strings (one per layer), got " + (it->is_array() ? std::to_string(it->size()) + " entries"
                                                                        : std::string("no list")));
            return;
        }
        for (std::size_t i = 0; i < it->size(); ++i) {
            if (!kind_of((*it)[i])) {
                c.record("layer_types[" + std::to_string(i) + "] is " +
                         ((*it)[i].is_string() ? "\"" + excerpt((*it)[i].get_ref<const std::string&>()) + "\""
                                               : std::string("not a string")) +
                         ", expected \"full_attention\" or \"sliding_attention\"");
            }
        }
    }
    static void check_attention(hf_config& c, const attention_config& a) {
        c.expect_bool("qkv_bias", a.qkv_bias, true);
    }
    static void check_moe(hf_config& c, const moe_layer_config& m) {
        qwen_detail::check_moe(c, m);
        c.expect_int({"shared_expert_intermediate_size"}, m.shared_width());
    }

    // transformers 5.24 Qwen2MoeConfig: layer i slides iff layer_types[i] == "sliding_attention"; without
    // layer_types, iff use_sliding_window and i is even and i < max_window_layers (default 28).
    static std::int64_t sliding_window(hf_config& c, int layer) {
        bool slides = false;
        if (const auto it = c.json().find("layer_types"); it != c.json().end() && !it->is_null()) {
            // Malformed lists are reported by check_model; such a layer counts as full attention here.
            slides = it->is_array() && std::size_t(layer) < it->size() &&
                     kind_of((*it)[std::size_t(layer)]) == layer_kind::sliding;
        } else {
            const bool use = c.boolean("use_sliding_window", false);
            const std::int64_t max_window_layers = c.integer({"max_window_layers"}, 28);
            slides = use && layer % 2 == 0 && layer < max_window_layers;
        }
        return slides ? qwen_detail::window_of_sliding_layer(c, layer) : 0;
    }

   private:
    enum class layer_kind { full, sliding };
    static std::optional<layer_kind> kind_of(const nlohmann::json& v) {
        if (!v.is_string()) return std::nullopt;
        const auto& s = v.get_ref<const std::string&>();
        if (s == "full_attention" || s == "attention") return layer_kind::full;
        if (s == "sliding_attention") return layer_kind::sliding;
        return std::nullopt;
    }
};

}  // namespace moe
