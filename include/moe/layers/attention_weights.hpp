// moe/layers/attention_weights.hpp — the tensors an attention layer reads, as views, and owning variants.
//
// Matrices use the nn.Linear layout (out_features, in_features) and vectors are (1, n) rows, so checkpoint
// tensors map onto the views without a copy. Every tensor is stored in the config's weight_format, except that
// the vectors of a block-quantized format (q8_0) stay fp32 (vector_storage_t).
// Names follow the Hugging Face module attributes (q_proj, kv_a_proj_with_mqa → kv_a_proj, ...).
#pragma once

#include <cstdint>
#include <random>
#include <string_view>

#include "moe/config/attention_config.hpp"
#include "moe/config/precision.hpp"
#include "moe/tensor/matrix_view.hpp"
#include "moe/tensor/random_fill.hpp"

namespace moe {

// D = model_width, H = heads, G = kv_heads, Dh = head_dim.
template <attention_config C>
struct attention_weights {
    static_assert(check_attention_config<C>::value);
    using storage = storage_t<C.weights>;        // matrices
    using vector = vector_storage_t<C.weights>;  // biases, norm weights
    static constexpr std::int64_t D = C.model_width, Q = C.q_width(), KV = C.kv_width();
    static constexpr std::int64_t q_norm_width = C.qk_norm == qk_norm_kind::per_head ? C.head_dim : Q;
    static constexpr std::int64_t k_norm_width = C.qk_norm == qk_norm_kind::per_head ? C.head_dim : KV;

    matrix_view<const storage> q_proj;  // (H·Dh, D)
    matrix_view<const storage> k_proj;  // (G·Dh, D)
    matrix_view<const storage> v_proj;  // (G·Dh, D)
    matrix_view<const storage> o_proj;  // (D, H·Dh)
    matrix_view<const vector> q_bias;  // (1, H·Dh)  only when C.qkv_bias
    matrix_view<const vector> k_bias;  // (1, G·Dh)  only when C.qkv_bias
    matrix_view<const vector> v_bias;  // (1, G·Dh)  only when C.qkv_bias
    matrix_view<const vector> o_bias;  // (1, D)     only when C.output_bias
    matrix_view<const vector> q_norm;  // (1, Dh) per_head, (1, H·Dh) whole_projection; only with a QK-norm
    matrix_view<const vector> k_norm;  // (1, Dh) per_head, (1, G·Dh) whole_projection; only with a QK-norm

    // Throws moe::shape_error naming the first tensor that is missing or mis-shaped.
    void validate(std::string_view owner = "grouped_query_attention") const {
        require_shape(owner, "q_proj", q_proj, Q, D);
        require_shape(owner, "k_proj", k_proj, KV, D);
        require_shape(owner, "v_proj", v_proj, KV, D);
        require_shape(owner, "o_proj", o_proj, D, Q);
        if constexpr (C.qkv_bias) {
            require_shape(owner, "q_proj.bias", q_bias, 1, Q);
            require_shape(owner, "k_proj.bias", k_bias, 1, KV);
            require_shape(owner, "v_proj.bias", v_bias, 1, KV);
        }
        if constexpr (C.output_bias) require_shape(owner, "o_proj.bias", o_bias, 1, D);
        if constexpr (C.qk_norm != qk_norm_kind::none) {
            require_shape(owner, "q_norm", q_norm, 1, q_norm_width);
            require_shape(owner, "k_norm", k_norm, 1, k_norm_width);
        }
    }
};

// D = model_width, H = heads, Rq = q_lora_rank, R = kv_lora_rank, Dn/Dr/Dv = qk_nope/qk_rope/v head dims.
template <mla_config C>
struct mla_weights {
    static_assert(check_mla_config<C>::value);
    using storage = storage_t<C.weights>;        // matrices
    using vector = vector_storage_t<C.weights>;  // biases, norm weights
    static constexpr std::int64_t D = C.model_width, Rq = C.q_lora_rank, R = C.kv_lora_rank,
                                  Dr = C.qk_rope_head_dim, Q = C.q_width(), O = std::int64_t{C.heads} * C.v_head_dim;

    matrix_view<const storage> q_proj;     // (H·(Dn+Dr), D)  only when Rq == 0
    matrix_view<const storage> q_a_proj;   // (Rq, D)         only when Rq > 0
    matrix_view<const vector> q_a_bias;   // (1, Rq)         only when Rq > 0 and C.bias
    matrix_view<const vector> q_a_norm;   // (1, Rq)         q_a_layernorm, only when Rq > 0
    matrix_view<const storage> q_b_proj;   // (H·(Dn+Dr), Rq) only when Rq > 0
    matrix_view<const storage> kv_a_proj;  // (R + Dr, D)     kv_a_proj_with_mqa
    matrix_view<const vector> kv_a_bias;  // (1, R + Dr)     only when C.bias
    matrix_view<const vector> kv_a_norm;  // (1, R)          kv_a_layernorm
    matrix_view<const storage> kv_b_proj;  // (H·(Dn+Dv), R)  head h: rows [h·(Dn+Dv), +Dn) key, [+Dn, +Dn+Dv) value
    matrix_view<const storage> o_proj;     // (D, H·Dv)
    matrix_view<const vector> o_bias;     // (1, D)          only when C.bias

    void validate(std::string_view owner = "multi_head_latent_attention") const {
        if constexpr (Rq == 0) {
            require_shape(owner, "q_proj", q_proj, Q, D);
        } else {
            require_shape(owner, "q_a_proj", q_a_proj, Rq, D);
            if constexpr (C.bias) require_shape(owner, "q_a_proj.bias", q_a_bias, 1, Rq);
            require_shape(owner, "q_a_layernorm", q_a_norm, 1, Rq);
            require_shape(owner, "q_b_proj", q_b_proj, Q, Rq);
        }
        require_shape(owner, "kv_a_proj_with_mqa", kv_a_proj, R + Dr, D);
        if constexpr (C.bias) require_shape(owner, "kv_a_proj_with_mqa.bias", kv_a_bias, 1, R + Dr);
        require_shape(owner, "kv_a_layernorm", kv_a_norm, 1, R);
        require_shape(owner, "kv_b_proj", kv_b_proj, C.kv_b_rows(), R);
        require_shape(owner, "o_proj", o_proj, D, O);
        if constexpr (C.bias) require_shape(owner, "o_proj.bias", o_bias, 1, D);
    }
};


// Owns every tensor of a grouped-query attention layer; .view() gives the weights to run with.
template <attention_config C>
struct owned_attention_weights {
    using W = attention_weights<C>;
    using storage = typename W::storage;
    using vector = typename W::vector;
    static constexpr std::int64_t D = W::D, Q = W::Q, KV = W::KV;
    static constexpr bool norm = C.qk_norm != qk_norm_kind::none;

    host_matrix<storage> q_proj{Q, D}, k_proj{KV, D}, v_proj{KV, D}, o_proj{D, Q};
    host_matrix<vector> q_bias{1, C.qkv_bias ? Q : 0}, k_bias{1, C.qkv_bias ? KV : 0}, v_bias{1, C.qkv_bias ? KV : 0};
    host_matrix<vector> o_bias{1, C.output_bias ? D : 0};
    host_matrix<vector> q_norm{1, norm ? W::q_norm_width : 0}, k_norm{1, norm ? W::k_norm_width : 0};

    W view() const {
        W w;
        w.q_proj = q_proj.view();
        w.k_proj = k_proj.view();
        w.v_proj = v_proj.view();
        w.o_proj = o_proj.view();
        if constexpr (C.qkv_bias) {
            w.q_bias = q_bias.view();
            w.k_bias = k_bias.view();
            w.v_bias = v_bias.view();
        }
        if constexpr (C.output_bias) w.o_bias = o_bias.view();
        if constexpr (norm) {
            w.q_norm = q_norm.view();
            w.k_norm = k_norm.view();
        }
        return w;
    }

    // Reproducible random weights from `seed` (tests, benchmarks).
    static owned_attention_weights random(std::uint64_t seed) {
        owned_attention_weights w;
        std::mt19937_64 rng(seed);
        for (auto* m : {&w.q_proj, &w.k_proj, &w.v_proj, &w.o_proj}) fill_linear(*m, rng);
        for (auto* m : {&w.q_bias, &w.k_bias, &w.v_bias, &w.o_bias}) fill_uniform(*m, rng, -0.1f, 0.1f);
        for (auto* m : {&w.q_norm, &w.k_norm}) fill_uniform(*m, rng, 0.5f, 1.5f);
        return w;
    }
};

// Owns every tensor of a multi-head latent attention layer.
template <mla_config C>
struct owned_mla_weights {
    using W = mla_weights<C>;
    using storage = typename W::storage;
    using vector = typename W::vector;
    static constexpr std::int64_t D = W::D, Rq = W::Rq, R = W::R, Dr = W::Dr, Q = W::Q, O = W::O;

    host_matrix<storage> q_proj{Rq == 0 ? Q : 0, D};
    host_matrix<storage> q_a_proj{Rq, D}, q_b_proj{Rq > 0 ? Q : 0, Rq};
    host_matrix<vector> q_a_bias{1, C.bias ? Rq : 0}, q_a_norm{1, Rq};
    host_matrix<storage> kv_a_proj{R + Dr, D};
    host_matrix<vector> kv_a_bias{1, C.bias ? R + Dr : 0}, kv_a_norm{1, R};
    host_matrix<storage> kv_b_proj{C.kv_b_rows(), R};
    host_matrix<storage> o_proj{D, O};
    host_matrix<vector> o_bias{1, C.bias ? D : 0};

    W view() const {
        W w;
        if constexpr (Rq == 0) {
            w.q_proj = q_proj.view();
        } else {
            w.q_a_proj = q_a_proj.view();
            if constexpr (C.bias) w.q_a_bias = q_a_bias.view();
            w.q_a_norm = q_a_norm.view();
            w.q_b_proj = q_b_proj.view();
        }
        w.kv_a_proj = kv_a_proj.view();
        if constexpr (C.bias) w.kv_a_bias = kv_a_bias.view();
        w.kv_a_norm = kv_a_norm.view();
        w.kv_b_proj = kv_b_proj.view();
        w.o_proj = o_proj.view();
        if constexpr (C.bias) w.o_bias = o_bias.view();
        return w;
    }

    static owned_mla_weights random(std::uint64_t seed) {
        owned_mla_weights w;
        std::mt19937_64 rng(seed);
        for (auto* m : {&w.q_proj, &w.q_a_proj, &w.q_b_proj, &w.kv_a_proj, &w.kv_b_proj, &w.o_proj}) {
            fill_linear(*m, rng);
        }
        for (auto* m : {&w.q_a_bias, &w.kv_a_bias, &w.o_bias}) fill_uniform(*m, rng, -0.1f, 0.1f);
        for (auto* m : {&w.q_a_norm, &w.kv_a_norm}) fill_uniform(*m, rng, 0.5f, 1.5f);
        return w;
    }
};

}  // namespace moe
