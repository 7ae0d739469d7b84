// moe/cpu/attention/multi_head_latent_attention.hpp — DeepSeek-V2/V3 multi-head latent attention (MLA) on the CPU.
//
// Same result as DeepseekV2Attention / DeepseekV3Attention, but the cache holds only the compressed latent per
// position, [ kv_a_layernorm(c) (R) | RoPE(k_rope) (Dr) ], and the up-projection kv_b_proj is *absorbed* into the
// queries and the output instead of expanding per-head keys and values for every cached position:
//   score(h, j) = q_nope_h · (W_uk_h c_j) + q_rope_h · k_rope_j  =  (W_uk_hᵀ q_nope_h) · c_j + q_rope_h · k_rope_j
//   out_h       = Σ_j p_hj (W_uv_h c_j)                          =  W_uv_h (Σ_j p_hj c_j)
// so attention runs as multi-query attention over rows of width R + Dr with values = the first R columns.
// Per token and layer the cache holds R + Dr floats (DeepSeek-V3: 576) instead of H·(Dn+Dr+Dv) (V3: 40960).
//
// forward():
//   q = q_proj(x)  or  q_b_proj(rms_norm(q_a_proj(x)))                          (T, H·(Dn+Dr))
//   [c | k_rope] = kv_a_proj_with_mqa(x) → rms_norm(c), RoPE(k_rope) → cache   (T, R+Dr)
//   RoPE(q_rope); q_abs_h = [W_uk_hᵀ q_nope_h | q_rope_h]                       (T, H·(R+Dr))
//   context_h = W_uv_h · causal_softmax(q_abs · rowsᵀ · scale) · c              (T, H·Dv)
//   out = o_proj(context)                                                       (T, D)
// scale = (Dn+Dr)^-0.5 · mscale(factor, mscale_all_dim)² under YaRN (yarn_apply_mscale in transformers).
// The cache stores its rows in Config.cache's format; attention reads them back (new positions included), and a
// q8_0 cache sees q_abs rounded to q8_0 as llama.cpp's does.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "moe/config/attention_config.hpp"
#include "moe/layers/attention_weights.hpp"
#include "moe/cpu/attention/causal_attention.hpp"
#include "moe/cpu/attention/kv_cache.hpp"
#include "moe/cpu/eigen_maps.hpp"
#include "moe/cpu/linear.hpp"
#include "moe/cpu/rms_norm.hpp"
#include "moe/cpu/rotary.hpp"
#include "moe/cpu/widen_rows.hpp"
#include "moe/runtime/thread_pool.hpp"

namespace moe::cpu {

template <mla_config Config>
class multi_head_latent_attention {
    static_assert(check_mla_config<Config>::value);

   public:
    static constexpr mla_config config = Config;
    using storage = storage_t<Config.weights>;
    using vector = vector_storage_t<Config.weights>;
    static constexpr std::int64_t D = Config.model_width, H = Config.heads, Rq = Config.q_lora_rank,
                                  R = Config.kv_lora_rank, Dn = Config.qk_nope_head_dim, Dr = Config.qk_rope_head_dim,
                                  Dv = Config.v_head_dim, Dqk = Config.qk_head_dim(), Q = Config.q_width();
    using cache_type = basic_latent_cache<Config.cache>;

    multi_head_latent_attention(mla_weights<Config> weights, mla_runtime runtime)
        : weights_(weights), runtime_(runtime), rope_(runtime.rope, Config.qk_rope_head_dim),
          scale_(float(std::pow(double(Dqk), -0.5) * mla_softmax_scale_multiplier(runtime.rope))) {
        weights_.validate("multi_head_latent_attention");
    }

    // A cache for one sequence of up to `capacity` positions; it grows with use (kv_cache.hpp), R + Dr floats a position.
    cache_type make_cache(std::int64_t capacity) const { return cache_type(capacity, R, Dr); }

    // x: (T, D) the new tokens; out: (T, D), must not overlap x. Appends T positions to `cache`;
    // throws kv_cache_full (cache unchanged) when they do not fit.
    void forward(matrix_view<const float> x, cache_type& cache, matrix_view<float> out, thread_pool& pool) {
        require_shape("multi_head_latent_attention::forward", "x", x, x.rows, D);
        require_shape("multi_head_latent_attention::forward", "out", out, x.rows, D);
        if (cache.latent_width() != R || cache.rope_width() != Dr) {
            throw shape_error("multi_head_latent_attention::forward: cache has the wrong latent/rope width");
        }
        const std::int64_t T = x.rows, first = cache.size();
        cache.require_room(T);
        if (T == 0) return;

        project_queries(x, pool);  // q_: (T, H·(Dn+Dr))
        const matrix_view<float> rows = new_rows(cache, first, T);  // (T, R+Dr): the cache's own rows when fp32
        linear<storage>(x, weights_.kv_a_proj, weights_.kv_a_bias, rows, pool);
        for (std::int64_t t = 0; t < T; ++t) {
            rms_norm_row(rows.row(t), weights_.kv_a_norm.data, R, runtime_.latent_norm_eps, rows.row(t));
        }

        rope_.tables(first, T, cos_, sin_);  // (T, Dr/2)
        for (std::int64_t t = 0; t < T; ++t) {
            rotate(rows.row(t) + R, t);
            for (std::int64_t h = 0; h < H; ++h) rotate(q_.row(t) + h * Dqk + Dn, t);
        }

        if constexpr (Config.cache != kv_cache_format::fp32) store_rows<Config.cache>(rows, cache.rows(first, T));

        absorb_queries(pool);  // q_abs_: (T, H·(R+Dr))
        const std::int64_t S = cache.shared();  // shared prompt positions, read in place (0 when none)
        using element = typename cache_type::element;
        const matrix_view<const element> cached = cache.rows(S, first + T - S);  // (L − S, R+Dr)
        latent_context_.resize(T, H * R);                                       // (T, H·R)
        causal_attention(q_abs_.view(), shared_kv<element>{cache.shared_rows(), cache.shared_rows()}, cached, cached,
                         {.heads = int(H), .kv_heads = 1, .key_dim = int(R + Dr), .value_dim = int(R)}, scale_,
                         latent_context_.view(), pool);
        expand_context(pool);  // context_: (T, H·Dv)
        linear<storage>(context_.view(), weights_.o_proj, weights_.o_bias, out, pool);
        cache.commit(T);
    }

    void forward(matrix_view<const float> x, cache_type& cache, matrix_view<float> out) {
        thread_pool single(1);
        forward(x, cache, out, single);
    }

    const mla_weights<Config>& weights() const { return weights_; }
    const mla_runtime& runtime() const { return runtime_; }
    const rotary_embedding& rotary() const { return rope_; }
    float softmax_scale() const { return scale_; }

   private:
    // Where kv_a_proj writes the new positions [first, first + T): the cache rows (fp32), or this layer's fp32 rows,
    // stored into the cache after the norm and RoPE.
    matrix_view<float> new_rows(cache_type& cache, std::int64_t first, std::int64_t T) {
        if constexpr (Config.cache == kv_cache_format::fp32) {
            return cache.rows(first, T);
        } else {
            new_rows_.resize(T, R + Dr);
            return new_rows_.view();
        }
    }

    void rotate(float* head, std::int64_t t) const {
        if constexpr (Config.rope_interleave) {
            rope_interleaved(head, cos_.row(t), sin_.row(t), Dr);
        } else {
            rope_rotate_half(head, cos_.row(t), sin_.row(t), Dr);
        }
    }

    // x: (T, D) → q_: (T, H·(Dn+Dr))
    void project_queries(matrix_view<const float> x, thread_pool& pool) {
        q_.resize(x.rows, Q);
        if constexpr (Rq == 0) {
            linear<storage>(x, weights_.q_proj, q_.view(), pool);
        } else {
            q_latent_.resize(x.rows, Rq);  // (T, Rq)
            linear<storage>(x, weights_.q_a_proj, weights_.q_a_bias, q_latent_.view(), pool);
            rms_norm<vector>(q_latent_.view(), weights_.q_a_norm, runtime_.latent_norm_eps);
            linear<storage>(q_latent_.view(), weights_.q_b_proj, q_.view(), pool);
        }
    }

    // q_abs_ head h = [ q_nope_h · W_uk_h (R) | q_rope_h (Dr) ]; W_uk_h = kv_b_proj rows [h·(Dn+Dv), +Dn): (Dn, R).
    void absorb_queries(thread_pool& pool) {
        const std::int64_t T = q_.rows();
        q_abs_.resize(T, H * (R + Dr));
        pool.parallel_for(H, [&](std::int64_t h) {
            const auto w_uk = widen_rows(weights_.kv_b_proj, h * (Dn + Dv), Dn);  // (Dn, R), this thread's scratch
            const detail::strided_map q_nope(q_.data() + h * Dqk, T, Dn, Eigen::OuterStride<>(Q));
            detail::strided_out_map q_lat(q_abs_.data() + h * (R + Dr), T, R, Eigen::OuterStride<>(H * (R + Dr)));
            q_lat.noalias() = q_nope * w_uk;
            for (std::int64_t t = 0; t < T; ++t) {
                const float* q_rope = q_.row(t) + h * Dqk + Dn;
                std::copy(q_rope, q_rope + Dr, q_abs_.row(t) + h * (R + Dr) + R);
            }
        });
    }

    // context_ head h = latent_context_h (T, R) · W_uv_hᵀ; W_uv_h = kv_b_proj rows [h·(Dn+Dv) + Dn, +Dv): (Dv, R).
    void expand_context(thread_pool& pool) {
        const std::int64_t T = latent_context_.rows();
        context_.resize(T, H * Dv);
        pool.parallel_for(H, [&](std::int64_t h) {
            const auto w_uv = widen_rows(weights_.kv_b_proj, h * (Dn + Dv) + Dn, Dv);  // (Dv, R), this thread's scratch
            const detail::strided_map latent(latent_context_.data() + h * R, T, R, Eigen::OuterStride<>(H * R));
            detail::strided_out_map context(context_.data() + h * Dv, T, Dv, Eigen::OuterStride<>(H * Dv));
            context.noalias() = latent * w_uv.transpose();
        });
    }

    mla_weights<Config> weights_;
    mla_runtime runtime_;
    rotary_embedding rope_;
    float scale_;
    host_matrix<float> q_latent_;        // (T, Rq)
    host_matrix<float> q_;               // (T, H·(Dn+Dr))
    host_matrix<float> q_abs_;           // (T, H·(R+Dr))
    host_matrix<float> latent_context_;  // (T, H·R)
    host_matrix<float> context_;         // (T, H·Dv)
    host_matrix<float> new_rows_;        // (T, R+Dr): new positions before a non-fp32 cache stores them
    host_matrix<float> cos_, sin_;       // (T, Dr/2)
};

}  // namespace moe::cpu
