// moe/layers/layer_weights.hpp — what one node of a model description reads: its tensors (views, no copy) and the
// run-time values a checkpoint's config.json adds (RoPE, norm eps, sliding window, routed scaling).
//
//   moe::layer_weights<moe::model::gqa<A>>          attention_weights<A> + attention_runtime
//   moe::layer_weights<moe::model::mla<M>>          mla_weights<M> + mla_runtime
//   moe::layer_weights<moe::model::moe_ffn<C>>      moe_layer_weights<C> + router_runtime
//   moe::layer_weights<moe::model::dense_ffn<C>>    swiglu_weights (gate, up, down)
//   moe::layer_weights<moe::model::decoder<A, F>>   both of the above + the two RMSNorm weights and their eps
//
// Backend-free: the loader fills these, every backend's layer is constructed from them.
#pragma once

#include <cstdint>
#include <string_view>

#include "moe/config/attention_config.hpp"
#include "moe/config/precision.hpp"
#include "moe/config/router_config.hpp"
#include "moe/layers/attention_weights.hpp"
#include "moe/layers/moe_layer_weights.hpp"
#include "moe/model/description.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe {

template <class Node>
struct layer_weights {
    static_assert(sizeof(Node) == 0, "moe::layer_weights: this type is not a node of a model description "
                                     "(model::gqa, model::mla, model::moe_ffn, model::dense_ffn, model::decoder)");
};

template <attention_config A>
struct layer_weights<model::gqa<A>> {
    attention_weights<A> tensors;
    attention_runtime runtime{};
};

template <mla_config M>
struct layer_weights<model::mla<M>> {
    mla_weights<M> tensors;
    mla_runtime runtime{};
};

template <moe_layer_config C>
struct layer_weights<model::moe_ffn<C>> {
    moe_layer_weights<C> tensors;
    router_runtime runtime{};
};

template <dense_mlp_config C>
struct layer_weights<model::dense_ffn<C>> {
    swiglu_weights<storage_t<C.weights>> tensors;  // gate (F, D), up (F, D), down (D, F)

    // Throws moe::shape_error naming a mis-shaped tensor.
    void validate(std::string_view owner = "dense_mlp") const {
        require_shape(owner, "gate_proj", tensors.gate, C.width, C.model_width);
        require_shape(owner, "up_proj", tensors.up, C.width, C.model_width);
        require_shape(owner, "down_proj", tensors.down, C.model_width, C.width);
    }
};

template <class Attention, class FeedForward>
struct layer_weights<model::decoder<Attention, FeedForward>> {
    // Norm weights are vectors in the attention's format (fp32 for block-quantized formats).
    using vector = vector_storage_t<Attention::config.weights>;

    layer_weights<Attention> attention;
    layer_weights<FeedForward> feed_forward;
    matrix_view<const vector> input_norm;           // (1, D) input_layernorm
    matrix_view<const vector> post_attention_norm;  // (1, D) post_attention_layernorm
    float rms_norm_eps = 1e-6f;
};

}  // namespace moe
