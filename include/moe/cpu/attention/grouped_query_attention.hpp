// moe/cpu/attention/grouped_query_attention.hpp — causal grouped-query attention with a KV cache, on the CPU.
//
// forward() follows MixtralAttention / Qwen2MoeAttention / Qwen3MoeAttention / OlmoeAttention top to bottom:
//   q, k, v projections (+ bias) → QK-norm (per head or whole projection) → clip (OLMoE) → RoPE (rotate_half)
//   → append k, v to the cache → causal (optionally sliding-window) softmax(q·kᵀ / sqrt(Dh)) · v → o_proj (+ bias)
// T = new tokens, L = cached positions after this call, D = model_width, H = heads, G = kv_heads, Dh = head_dim.
// The new tokens take positions L − T … L − 1, so a prefill of T tokens and T single-token decodes give the same
// result (up to fp32 summation order). Keys and values are stored in the cache's format (Config.cache) before
// attention reads them, new positions included, so a prefill and token-by-token decoding round them alike.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "moe/config/attention_config.hpp"
#include "moe/layers/attention_weights.hpp"
#include "moe/cpu/attention/causal_attention.hpp"
#include "moe/cpu/attention/kv_cache.hpp"
#include "moe/cpu/linear.hpp"
#include "moe/cpu/rms_norm.hpp"
#include "moe/cpu/rotary.hpp"
#include "moe/runtime/thread_pool.hpp"

namespace moe::cpu {

template <attention_config Config>
class grouped_query_attention {
    static_assert(check_attention_config<Config>::value);

   public:
    static constexpr attention_config config = Config;
    using storage = storage_t<Config.weights>;
    using vector = vector_storage_t<Config.weights>;
    static constexpr std::int64_t D = Config.model_width, H = Config.heads, G = Config.kv_heads,
                                  Dh = Config.head_dim, Q = Config.q_width(), KV = Config.kv_width();
    using cache_type = basic_kv_cache<Config.cache>;

    // Throws moe::shape_error naming the first missing or mis-shaped tensor.
    grouped_query_attention(attention_weights<Config> weights, attention_runtime runtime)
        : weights_(weights), runtime_(runtime), rope_(runtime.rope, Config.head_dim),
          scale_(float(1.0 / std::sqrt(double(Dh)))) {
        weights_.validate("grouped_query_attention");
    }

    // A cache for one sequence of up to `capacity` positions; it grows with use (kv_cache.hpp), 2·G·Dh values a
    // position in the Config.cache format.
    cache_type make_cache(std::int64_t capacity) const { return cache_type(capacity, KV); }

    // x: (T, D) the new tokens; out: (T, D), must not overlap x. Appends T positions to `cache`;
    // throws kv_cache_full (cache unchanged) when they do not fit.
    void forward(matrix_view<const float> x, cache_type& cache, matrix_view<float> out, thread_pool& pool) {
        require_shape("grouped_query_attention::forward", "x", x, x.rows, D);
        require_shape("grouped_query_attention::forward", "out", out, x.rows, D);
        if (cache.kv_width() != KV) throw shape_error("grouped_query_attention::forward: cache has the wrong kv width");
        const std::int64_t T = x.rows, first = cache.size();
        cache.require_room(T);
        if (T == 0) return;

        // Projections; k and v go straight into the cache rows of the new positions when the cache is fp32, else
        // into fp32 rows stored in the cache's format once normed and rotated.
        q_.resize(T, Q);  // (T, H·Dh)
        const auto [k, v] = new_rows(cache, first, T);  // (T, G·Dh) each
        linear<storage>(x, weights_.q_proj, weights_.q_bias, q_.view(), pool);
        linear<storage>(x, weights_.k_proj, weights_.k_bias, k, pool);
        linear<storage>(x, weights_.v_proj, weights_.v_bias, v, pool);

        if constexpr (Config.qk_norm == qk_norm_kind::per_head) {  // rows of one head: (T·H, Dh), (T·G, Dh)
            rms_norm<vector>(matrix_view<float>{q_.data(), T * H, Dh}, weights_.q_norm, runtime_.rms_norm_eps);
            rms_norm<vector>(matrix_view<float>{k.data, T * G, Dh}, weights_.k_norm, runtime_.rms_norm_eps);
        } else if constexpr (Config.qk_norm == qk_norm_kind::whole_projection) {
            rms_norm<vector>(q_.view(), weights_.q_norm, runtime_.rms_norm_eps);
            rms_norm<vector>(k, weights_.k_norm, runtime_.rms_norm_eps);
        }
        if (runtime_.clip_qkv > 0.0f) {
            for (matrix_view<float> m : {q_.view(), k, v}) clamp(m, runtime_.clip_qkv);
        }

        rope_.tables(first, T, cos_, sin_);  // (T, Dh/2)
        for (std::int64_t t = 0; t < T; ++t) {
            for (std::int64_t h = 0; h < H; ++h) rope_rotate_half(q_.row(t) + h * Dh, cos_.row(t), sin_.row(t), Dh);
            for (std::int64_t g = 0; g < G; ++g) rope_rotate_half(k.row(t) + g * Dh, cos_.row(t), sin_.row(t), Dh);
        }

        if constexpr (Config.cache != kv_cache_format::fp32) {
            store_rows<Config.cache>(k, cache.keys(first, T));
            store_rows<Config.cache>(v, cache.values(first, T));
        }

        // Attend over every cached position including the new ones: keys/values (first + T, G·Dh).
        context_.resize(T, Q);  // (T, H·Dh)
        // Two segments when the cache shares a prompt prefix: positions [0, S) read in place, then own rows.
        const std::int64_t S = cache.shared();
        using element = typename cache_type::element;
        const matrix_view<const element> keys = cache.keys(S, first + T - S), values = cache.values(S, first + T - S);
        causal_attention(q_.view(), shared_kv<element>{cache.shared_keys(), cache.shared_values()}, keys, values,
                         {.heads = int(H), .kv_heads = int(G), .key_dim = int(Dh), .value_dim = int(Dh)}, scale_,
                         context_.view(), pool, runtime_.sliding_window);
        linear<storage>(context_.view(), weights_.o_proj, weights_.o_bias, out, pool);
        cache.commit(T);
    }

    void forward(matrix_view<const float> x, cache_type& cache, matrix_view<float> out) {
        thread_pool single(1);
        forward(x, cache, out, single);
    }

    const attention_weights<Config>& weights() const { return weights_; }
    const attention_runtime& runtime() const { return runtime_; }
    const rotary_embedding& rotary() const { return rope_; }
    float softmax_scale() const { return scale_; }

   private:
    struct key_value_rows {
        matrix_view<float> keys, values;  // (T, G·Dh) each
    };
    // Where the projections of the new positions [first, first + T) are written: the cache rows themselves (fp32),
    // or this layer's fp32 rows, stored into the cache after QK-norm and RoPE.
    key_value_rows new_rows(cache_type& cache, std::int64_t first, std::int64_t T) {
        if constexpr (Config.cache == kv_cache_format::fp32) {
            return {cache.keys(first, T), cache.values(first, T)};
        } else {
            new_keys_.resize(T, KV);
            new_values_.resize(T, KV);
            return {new_keys_.view(), new_values_.view()};
        }
    }

    static void clamp(matrix_view<float> m, float limit) {
        for (float& value : m.span()) value = std::clamp(value, -limit, limit);
    }

    attention_weights<Config> weights_;
    attention_runtime runtime_;
    rotary_embedding rope_;
    float scale_;
    host_matrix<float> q_;        // (T, H·Dh)
    host_matrix<float> context_;  // (T, H·Dh)
    host_matrix<float> new_keys_, new_values_;  // (T, G·Dh): the new positions before a non-fp32 cache stores them
    host_matrix<float> cos_, sin_;  // (T, Dh/2)
};

}  // namespace moe::cpu
