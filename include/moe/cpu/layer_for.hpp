// moe/cpu/layer_for.hpp — which CPU layer executes each node of a model description, and how it is built from
// the node's weights. The one place that maps description → CPU types; moe::cpu::model<D> walks it.
//
//   model::gqa<A>            → grouped_query_attention<A>
//   model::mla<M>            → multi_head_latent_attention<M>
//   model::moe_ffn<C>        → moe_layer<C>
//   model::dense_ffn<C>      → dense_mlp<C>
//   model::decoder<A, F>     → decoder_layer<layer_for_t<A>, layer_for_t<F>>
#pragma once

#include "moe/cpu/attention/grouped_query_attention.hpp"
#include "moe/cpu/attention/multi_head_latent_attention.hpp"
#include "moe/cpu/decoder_layer.hpp"
#include "moe/cpu/dense_mlp.hpp"
#include "moe/cpu/moe_layer.hpp"
#include "moe/layers/layer_weights.hpp"
#include "moe/model/description.hpp"

namespace moe::cpu {

template <class Node>
struct layer_for {
    static_assert(sizeof(Node) == 0, "moe::cpu: no CPU layer executes this description node — specialise "
                                     "moe::cpu::layer_for<Node> with `type` and `static type make(const "
                                     "layer_weights<Node>&)`");
};

template <attention_config A>
struct layer_for<moe::model::gqa<A>> {
    using type = grouped_query_attention<A>;
    static type make(const layer_weights<moe::model::gqa<A>>& w) { return type(w.tensors, w.runtime); }
};

template <mla_config M>
struct layer_for<moe::model::mla<M>> {
    using type = multi_head_latent_attention<M>;
    static type make(const layer_weights<moe::model::mla<M>>& w) { return type(w.tensors, w.runtime); }
};

template <moe_layer_config C>
struct layer_for<moe::model::moe_ffn<C>> {
    using type = moe_layer<C>;
    static type make(const layer_weights<moe::model::moe_ffn<C>>& w) { return type(w.tensors, w.runtime); }
};

template <dense_mlp_config C>
struct layer_for<moe::model::dense_ffn<C>> {
    using type = dense_mlp<C>;
    static type make(const layer_weights<moe::model::dense_ffn<C>>& w) { return type(w.tensors); }
};

template <class Attention, class FeedForward>
struct layer_for<moe::model::decoder<Attention, FeedForward>> {
    using type = decoder_layer<typename layer_for<Attention>::type, typename layer_for<FeedForward>::type>;
    static type make(const layer_weights<moe::model::decoder<Attention, FeedForward>>& w) {
        return type(layer_for<Attention>::make(w.attention), layer_for<FeedForward>::make(w.feed_forward),
                    w.input_norm, w.post_attention_norm, w.rms_norm_eps);
    }
};

template <class Node>
using layer_for_t = typename layer_for<Node>::type;

}  // namespace moe::cpu
