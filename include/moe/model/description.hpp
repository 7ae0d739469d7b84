// moe/model/description.hpp — a model as a description: configs and composition, no backend, no arithmetic.
//
//   using my_model = moe::model::causal_lm<lm_config,
//       moe::model::stack<moe::model::decoder<moe::model::mla<attention>, moe::model::dense_ffn<dense>>, 1>,
//       moe::model::stack<moe::model::decoder<moe::model::mla<attention>, moe::model::moe_ffn<experts>>, 26>>;
//
// A description names what a model computes — which attention, which feed-forward, how many layers of each, in
// which weight format — and nothing about where: it includes no Eigen and no CUDA. The pieces that read it:
//   families (moe/models/families/*.hpp)  turn a model card into a description;
//   the loader (moe/models/load_model.hpp) walks it and returns backend-free weight views (moe/layers/);
//   the ledger (moe/ledger/cost.hpp)        prices a forward call from it;
//   a backend (moe::cpu::model<D>)          instantiates executable layers from it.
// Every node carries its configuration value as `config`; the checks of that value run here, once, so a
// configuration that cannot work fails to compile whichever backend is chosen.
#pragma once

#include <cstdint>
#include <tuple>
#include <type_traits>

#include "moe/config/attention_config.hpp"
#include "moe/config/dense_mlp_config.hpp"
#include "moe/config/model_config.hpp"
#include "moe/config/moe_layer_config.hpp"
#include "moe/config/parameter_count.hpp"
#include "moe/config/validate.hpp"

namespace moe::model {

// ---- attention ----

// Grouped-query attention (Mixtral, Qwen2/3-MoE, OLMoE): q/k/v/o projections, optional biases and QK-norm, RoPE.
template <attention_config A>
struct gqa {
    static_assert(check_attention_config<A>::value);
    static constexpr attention_config config = A;
    static constexpr std::int64_t parameters() { return parameter_count(A); }
};

// Multi-head latent attention (DeepSeek-V2/V3): keys and values through a compressed latent.
template <mla_config M>
struct mla {
    static_assert(check_mla_config<M>::value);
    static constexpr mla_config config = M;
    static constexpr std::int64_t parameters() { return parameter_count(M); }
};

// ---- feed-forward ----

// Routed experts (+ shared experts), one SwiGLU FFN per expert.
template <moe_layer_config C>
struct moe_ffn {
    static_assert(check_moe_layer_config<C>::value);
    static constexpr moe_layer_config config = C;
    static constexpr std::int64_t parameters() { return C.total_parameters(); }
    static constexpr std::int64_t active_parameters() { return C.active_parameters(); }
};

// One dense SwiGLU MLP (DeepSeek's first_k_dense_replace layers).
template <dense_mlp_config C>
struct dense_ffn {
    static_assert(check_dense_mlp_config<C>::value);
    static constexpr dense_mlp_config config = C;
    static constexpr std::int64_t parameters() { return 3 * std::int64_t{C.model_width} * C.width; }
    static constexpr std::int64_t active_parameters() { return parameters(); }
};

// ---- composition ----

// One pre-norm decoder layer: h = x + Attention(norm(x)); y = h + FeedForward(norm(h)).
template <class Attention, class FeedForward>
struct decoder {
    static_assert(Attention::config.model_width == FeedForward::config.model_width,
                  "model::decoder: the attention and the feed-forward must have the same model_width");
    using attention = Attention;
    using feed_forward = FeedForward;
    static constexpr std::int64_t model_width = Attention::config.model_width;
    // The two RMSNorm weight vectors (input_layernorm, post_attention_layernorm) are counted here.
    static constexpr std::int64_t parameters() {
        return Attention::parameters() + FeedForward::parameters() + 2 * model_width;
    }
    static constexpr std::int64_t active_parameters() {
        return Attention::parameters() + FeedForward::active_parameters() + 2 * model_width;
    }
};

// `Count` consecutive layers of the same description, each with its own weights.
template <class Layer, int Count>
struct stack {
    static_assert(Count >= 1, "model::stack: a stack needs at least one layer");
    using layer = Layer;
    static constexpr int count = Count;
};

// token ids → embedding → every layer of every stack in order → final RMSNorm → LM head → logits.
template <causal_lm_config Lm, class... Stacks>
struct causal_lm {
    static_assert(check_causal_lm_config<Lm>::value);
    static_assert(sizeof...(Stacks) >= 1, "model::causal_lm: give at least one model::stack");
    static_assert(((Stacks::layer::model_width == Lm.model_width) && ...),
                  "model::causal_lm: every layer's model_width must equal causal_lm_config::model_width");

    static constexpr causal_lm_config config = Lm;
    using stacks = std::tuple<Stacks...>;
    static constexpr int layer_count = (Stacks::count + ...);

    // Parameters of the whole model, and those one token reads (embedding row, active layer parts, LM head).
    static constexpr std::int64_t parameters() {
        return outer_parameters() + ((std::int64_t{Stacks::count} * Stacks::layer::parameters()) + ...);
    }
    static constexpr std::int64_t active_parameters() {
        return outer_parameters() + ((std::int64_t{Stacks::count} * Stacks::layer::active_parameters()) + ...);
    }

   private:
    static constexpr std::int64_t outer_parameters() {
        const std::int64_t VD = std::int64_t{Lm.vocab_size} * Lm.model_width;
        return VD * (Lm.tied_embeddings ? 1 : 2) + Lm.model_width;
    }
};

// ---- reading descriptions ----

template <class T>
inline constexpr bool is_causal_lm = false;
template <causal_lm_config Lm, class... Stacks>
inline constexpr bool is_causal_lm<causal_lm<Lm, Stacks...>> = true;

// A whole-model description.
template <class T>
concept description = is_causal_lm<T>;

namespace detail {
template <class T>
struct description_of {
    using type = typename T::description;  // a backend's model type names the description it executes
};
template <class T>
    requires description<T>
struct description_of<T> {
    using type = T;
};
}  // namespace detail

// The description of a model type: itself for a description, T::description for a backend's model type
// (moe::cpu::model<D>::description is D).
template <class T>
using description_of = typename detail::description_of<T>::type;

// True for a feed-forward description of a dense MLP (DeepSeek counts these for first_k_dense_replace).
template <class FeedForward>
inline constexpr bool is_dense_ffn = false;
template <dense_mlp_config C>
inline constexpr bool is_dense_ffn<dense_ffn<C>> = true;

}  // namespace moe::model
