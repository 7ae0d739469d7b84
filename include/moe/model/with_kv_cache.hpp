// moe/model/with_kv_cache.hpp — the same model with its KV cache stored in another format.
//
//   using qwen = moe::qwen3_moe<card>;                                           // fp32 cache (the reference)
//   using qwen_q8 = moe::model::with_kv_cache<qwen, moe::kv_cache_format::q8_0>;   // llama.cpp's -ctk/-ctv q8_0
//   auto m = moe::load_model<moe::cpu::model<qwen_q8>>(dir);                     // same checkpoint, same loader
//
// The cache format is a field of every attention config (attention_config::cache, mla_config::cache); this rewrites
// it in every layer of a description and leaves everything else — sizes, weights, routing — as it was, so any
// family's or released model's type gets a bf16, fp16 or q8_0 cache without a second card. The format's checks run
// on the rewritten configs (q8_0 needs head widths that are multiples of 32).
#pragma once

#include <tuple>

#include "moe/model/description.hpp"
#include "moe/precision/kv_cache_format.hpp"

namespace moe::model {

namespace detail {

template <class Node, kv_cache_format Format>
struct with_cache;  // a node of a description with its cache format replaced

template <attention_config A, kv_cache_format Format>
struct with_cache<gqa<A>, Format> {
    static constexpr attention_config config = [] {
        attention_config c = A;
        c.cache = Format;
        return c;
    }();
    using type = gqa<config>;
};

template <mla_config M, kv_cache_format Format>
struct with_cache<mla<M>, Format> {
    static constexpr mla_config config = [] {
        mla_config c = M;
        c.cache = Format;
        return c;
    }();
    using type = mla<config>;
};

template <class Attention, class FeedForward, kv_cache_format Format>
struct with_cache<decoder<Attention, FeedForward>, Format> {
    using type = decoder<typename with_cache<Attention, Format>::type, FeedForward>;
};

template <class Layer, int Count, kv_cache_format Format>
struct with_cache<stack<Layer, Count>, Format> {
    using type = stack<typename with_cache<Layer, Format>::type, Count>;
};

template <causal_lm_config Lm, class... Stacks, kv_cache_format Format>
struct with_cache<causal_lm<Lm, Stacks...>, Format> {
    using type = causal_lm<Lm, typename with_cache<Stacks, Format>::type...>;
};

}  // namespace detail

// Description with every attention layer's KV cache stored in `Format`.
template <description Description, kv_cache_format Format>
using with_kv_cache = typename detail::with_cache<Description, Format>::type;

// The cache format of a description's first attention layer (with_kv_cache sets all of them alike).
template <description Description>
inline constexpr kv_cache_format kv_cache_format_of_model =
    std::tuple_element_t<0, typename Description::stacks>::layer::attention::config.cache;

}  // namespace moe::model
