// moe/config/parameter_count.hpp — parameters of each layer kind, from its compile-time configuration alone.
// Counts include biases and norm weights; "active" counts what one token reads (router + top-k + shared experts).
#pragma once

#include <cstdint>

#include "moe/config/attention_config.hpp"
#include "moe/config/moe_layer_config.hpp"

namespace moe {

constexpr std::int64_t parameter_count(const attention_config& a) {
    const std::int64_t D = a.model_width, Q = a.q_width(), KV = a.kv_width();
    std::int64_t n = Q * D + 2 * KV * D + D * Q;
    if (a.qkv_bias) n += Q + 2 * KV;
    if (a.output_bias) n += D;
    if (a.qk_norm == qk_norm_kind::per_head) n += 2 * std::int64_t{a.head_dim};
    if (a.qk_norm == qk_norm_kind::whole_projection) n += Q + KV;
    return n;
}

constexpr std::int64_t parameter_count(const mla_config& m) {
    const std::int64_t D = m.model_width, R = m.kv_lora_rank, Dr = m.qk_rope_head_dim, Rq = m.q_lora_rank;
    std::int64_t n = m.q_lora_rank == 0 ? std::int64_t{m.q_width()} * D
                                        : Rq * D + Rq + std::int64_t{m.q_width()} * Rq + (m.bias ? Rq : 0);
    n += (R + Dr) * D + R + std::int64_t{m.kv_b_rows()} * R + D * m.heads * std::int64_t{m.v_head_dim};
    if (m.bias) n += R + Dr + D;
    return n;
}

}  // namespace moe
