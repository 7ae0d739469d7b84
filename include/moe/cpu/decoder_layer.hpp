// moe/cpu/decoder_layer.hpp — one pre-norm decoder layer, composed from an attention type and a feed-forward type.
//
//   h = x + Attention(rms_norm(x, input_layernorm))
//   y = h + FeedForward(rms_norm(h, post_attention_layernorm))
//
// Attention: grouped_query_attention<A> or multi_head_latent_attention<M> (anything with make_cache and
// forward(x, cache, out, pool)); FeedForward: moe_layer<C> or dense_mlp<C> (anything with forward(x, y, pool)).
// Several sequences run through one call: norms and the feed-forward see all their tokens at once (one GEMM per
// expert over every sequence's tokens), attention runs per sequence against that sequence's cache.
#pragma once

#include <cstdint>
#include <span>
#include <utility>

#include "moe/config/parameter_count.hpp"
#include "moe/cpu/rms_norm.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

template <class Attention, class FeedForward>
class decoder_layer {
   public:
    using attention_type = Attention;
    using feed_forward_type = FeedForward;
    using storage = typename Attention::storage;
    using vector = typename Attention::vector;  // norm weights: the attention's vector format
    using cache_type = decltype(std::declval<const Attention&>().make_cache(0));
    static constexpr std::int64_t D = Attention::D;
    static_assert(FeedForward::D == Attention::D,
                  "decoder_layer: the attention and the feed-forward must have the same model_width");

    // input_norm, post_attention_norm: (1, D). Throws moe::shape_error naming a mis-shaped norm.
    decoder_layer(Attention attention, FeedForward feed_forward, matrix_view<const vector> input_norm,
                  matrix_view<const vector> post_attention_norm, float rms_norm_eps)
        : attention_(std::move(attention)), feed_forward_(std::move(feed_forward)), input_norm_(input_norm),
          post_attention_norm_(post_attention_norm), eps_(rms_norm_eps) {
        require_shape("decoder_layer", "input_layernorm", input_norm_, 1, D);
        require_shape("decoder_layer", "post_attention_layernorm", post_attention_norm_, 1, D);
    }

    cache_type make_cache(std::int64_t capacity) const { return attention_.make_cache(capacity); }

    // Parameters of the layer, and those one token reads (MoE: router, top-k and shared experts only).
    static constexpr std::int64_t parameters() { return parameter_count(Attention::config) + ffn_parameters(false) + 2 * D; }
    static constexpr std::int64_t active_parameters() {
        return parameter_count(Attention::config) + ffn_parameters(true) + 2 * D;
    }

    // hidden:      (T, D) the residual stream of every sequence's new tokens, updated in place
    // sequence_start: (S + 1) rows [sequence_start[s], sequence_start[s + 1]) belong to sequence s
    // caches:      (S) that sequence's cache for this layer
    void forward(matrix_view<float> hidden, std::span<const std::int64_t> sequence_start,
                 std::span<cache_type* const> caches, thread_pool& pool) {
        const std::int64_t T = hidden.rows;
        normed_.resize(T, D);
        mixed_.resize(T, D);
        rms_norm<vector>(hidden, input_norm_, eps_, normed_.view());
        for (std::size_t s = 0; s < caches.size(); ++s) {
            const std::int64_t first = sequence_start[s], count = sequence_start[s + 1] - first;
            attention_.forward(matrix_view<const float>{normed_.row(first), count, D}, *caches[s],
                               matrix_view<float>{mixed_.row(first), count, D}, pool);
        }
        add_into(hidden, mixed_);
        rms_norm<vector>(hidden, post_attention_norm_, eps_, normed_.view());
        feed_forward_.forward(normed_.view(), mixed_.view(), pool);
        add_into(hidden, mixed_);
    }

    Attention& attention() { return attention_; }
    FeedForward& feed_forward() { return feed_forward_; }
    const FeedForward& feed_forward() const { return feed_forward_; }

   private:
    static constexpr std::int64_t ffn_parameters(bool active) {
        constexpr auto c = FeedForward::config;
        if constexpr (requires { c.top_k; }) {
            return active ? c.active_parameters() : c.total_parameters();
        } else {
            return 3 * std::int64_t{c.model_width} * c.width;  // dense SwiGLU
        }
    }

    static void add_into(matrix_view<float> hidden, const host_matrix<float>& update) {
        for (std::int64_t i = 0; i < hidden.size(); ++i) hidden.data[i] += update.data()[i];
    }

    Attention attention_;
    FeedForward feed_forward_;
    matrix_view<const vector> input_norm_;           // (1, D)
    matrix_view<const vector> post_attention_norm_;  // (1, D)
    float eps_;
    host_matrix<float> normed_;  // (T, D)
    host_matrix<float> mixed_;   // (T, D) attention or feed-forward output
};

}  // namespace moe::cpu
