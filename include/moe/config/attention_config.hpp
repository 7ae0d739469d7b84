// moe/config/attention_config.hpp — attention layers described like a model card, as compile-time values,
// plus the per-checkpoint runtime values (RoPE, eps) they need.
//
//   // Mixtral-8x7B:  hidden 4096, 32 heads, 8 kv heads, head_dim 128, no bias, no QK-norm
//   using mixtral_attention = moe::cpu::grouped_query_attention<moe::attention_config{
//       .model_width = 4096, .heads = 32, .kv_heads = 8, .head_dim = 128, .weights = moe::weight_format::bf16}>;
//
//   // DeepSeek-V3: multi-head latent attention
//   using v3_attention = moe::cpu::multi_head_latent_attention<moe::mla_config{
//       .model_width = 7168, .heads = 128, .q_lora_rank = 1536, .kv_lora_rank = 512,
//       .qk_nope_head_dim = 128, .qk_rope_head_dim = 64, .v_head_dim = 128, .weights = moe::weight_format::bf16}>;
//
// Sizes and weight layout are compile-time (they fix tensor shapes); rope theta/scaling and eps are runtime values
// read from config.json (attention_runtime, mla_runtime). Invalid combinations fail check_attention_config /
// check_mla_config with a message that says what to change.
#pragma once

#include <cstdint>

#include "moe/config/precision.hpp"
#include "moe/precision/kv_cache_format.hpp"

namespace moe {

// Where a family applies RMSNorm to the query and key projections.
enum class qk_norm_kind {
    none,              // Mixtral, Qwen2-MoE, DeepSeek
    per_head,          // Qwen3-MoE: q_norm/k_norm of width head_dim, applied to every head separately
    whole_projection,  // OLMoE: q_norm of width heads·head_dim, k_norm of width kv_heads·head_dim
};

// Grouped-query attention (multi-head when kv_heads == heads, multi-query when kv_heads == 1).
struct attention_config {
    int model_width = 0;  // D: hidden_size
    int heads = 0;        // H: num_attention_heads
    int kv_heads = 0;     // G: num_key_value_heads
    int head_dim = 0;     // Dh: head_dim (hidden_size / heads when the config has none)
    bool qkv_bias = false;     // q/k/v projections have a bias (Qwen2-MoE; attention_bias in Qwen3-MoE/OLMoE)
    bool output_bias = false;  // o_proj has a bias (attention_bias = true in Qwen3-MoE/OLMoE; never in Qwen2-MoE)
    qk_norm_kind qk_norm = qk_norm_kind::none;
    weight_format weights = weight_format::fp32;  // every tensor of the layer (projections, biases, norm weights)
    kv_cache_format cache = kv_cache_format::fp32;  // how the KV cache stores keys and values (kv_cache_format.hpp)

    constexpr int q_width() const { return heads * head_dim; }    // H·Dh
    constexpr int kv_width() const { return kv_heads * head_dim; }  // G·Dh
    constexpr int group_size() const { return kv_heads > 0 ? heads / kv_heads : 0; }  // query heads per kv head
    // KV cache: keys and values of every kv head, 2·G·Dh values a position, stored in `cache`'s format.
    constexpr std::int64_t cache_floats_per_token() const { return 2 * std::int64_t{kv_width()}; }
    constexpr std::int64_t cache_bytes_per_token() const { return moe::cache_bytes(cache, cache_floats_per_token()); }

    friend constexpr bool operator==(const attention_config&, const attention_config&) = default;
};

// Multi-head latent attention (DeepSeek-V2/V3): keys and values are expanded from a per-position latent.
struct mla_config {
    int model_width = 0;       // D: hidden_size
    int heads = 0;             // H: num_attention_heads
    int q_lora_rank = 0;       // Rq: query compression rank; 0 = no compression (q_proj, as DeepSeek-V2-Lite)
    int kv_lora_rank = 0;      // R: latent width (kv_a_layernorm width)
    int qk_nope_head_dim = 0;  // Dn: per-head query/key width without position
    int qk_rope_head_dim = 0;  // Dr: per-head query width with RoPE; also the width of the one shared rope key
    int v_head_dim = 0;        // Dv: per-head value width
    bool bias = false;         // attention_bias: q_a_proj, kv_a_proj_with_mqa and o_proj have a bias
    // DeepSeek's rope weights pair dims (0,1), (2,3), ... (V2 always; V3 `rope_interleave`, default true).
    // false = rotate_half pairs (i, i + Dr/2) as Llama.
    bool rope_interleave = true;
    weight_format weights = weight_format::fp32;
    kv_cache_format cache = kv_cache_format::fp32;  // how the latent cache stores its rows (kv_cache_format.hpp)

    constexpr int qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }  // Dn + Dr
    constexpr int q_width() const { return heads * qk_head_dim(); }                   // H·(Dn+Dr)
    constexpr int kv_b_rows() const { return heads * (qk_nope_head_dim + v_head_dim); }  // H·(Dn+Dv)
    // The cache holds the normalised latent and the roped shared key: R + Dr floats per position.
    constexpr std::int64_t cache_floats_per_token() const { return std::int64_t{kv_lora_rank} + qk_rope_head_dim; }
    constexpr std::int64_t cache_bytes_per_token() const { return moe::cache_bytes(cache, cache_floats_per_token()); }
    // What a plain K/V cache of the expanded heads would hold: H·(Dn+Dr) + H·Dv.
    constexpr std::int64_t expanded_floats_per_token() const {
        return std::int64_t{heads} * (qk_head_dim() + v_head_dim);
    }

    friend constexpr bool operator==(const mla_config&, const mla_config&) = default;
};

// How RoPE frequencies are made (rope_parameters["rope_type"]).
enum class rope_type {
    plain,  // "default": inv_freq[i] = theta^(-2i/dim)
    yarn,   // "yarn": frequency blend between interpolated and original, and an attention factor (DeepSeek-V3)
};

// rope_parameters of a checkpoint's config.json. Field names follow transformers' modeling_rope_utils.py.
struct rope_parameters {
    rope_type type = rope_type::plain;
    double theta = 10000.0;  // rope_theta
    // YaRN only.
    double factor = 1.0;
    std::int64_t original_max_position_embeddings = 0;
    double beta_fast = 32.0;
    double beta_slow = 1.0;
    double mscale = 0.0;          // 0 = absent
    double mscale_all_dim = 0.0;  // 0 = absent; DeepSeek also multiplies the softmax scale by mscale(factor, this)²
    double attention_factor = 0.0;  // 0 = derive from factor/mscale/mscale_all_dim as transformers does
    bool truncate = true;

    static rope_parameters plain(double theta) { return {.type = rope_type::plain, .theta = theta}; }
};

// Runtime values of a grouped_query_attention layer.
struct attention_runtime {
    rope_parameters rope{};
    float rms_norm_eps = 1e-6f;  // QK-norm eps (rms_norm_eps)
    float clip_qkv = 0.0f;       // OLMoE clip_qkv: clamp q, k, v to ±clip after the QK-norm; 0 = off
    // sliding_window (Mixtral; Qwen with use_sliding_window): a query at position p sees keys p − W < j ≤ p.
    // 0 = full causal attention. The cache still keeps every position.
    std::int64_t sliding_window = 0;
};

// Runtime values of a multi_head_latent_attention layer.
struct mla_runtime {
    rope_parameters rope{};
    // transformers builds q_a_layernorm/kv_a_layernorm with the RMSNorm default eps (1e-6), not rms_norm_eps.
    float latent_norm_eps = 1e-6f;
};

template <attention_config C>
struct check_attention_config {
    static_assert(C.model_width >= 1, "attention_config: set .model_width (hidden_size) to at least 1");
    static_assert(C.heads >= 1, "attention_config: set .heads (num_attention_heads) to at least 1");
    static_assert(C.kv_heads >= 1, "attention_config: set .kv_heads (num_key_value_heads) to at least 1");
    static_assert(C.kv_heads <= C.heads, "attention_config: .kv_heads exceeds .heads — a kv head needs a query head");
    static_assert(C.kv_heads < 1 || C.heads % C.kv_heads == 0,
                  "attention_config: .heads must be a multiple of .kv_heads (each kv head serves a fixed group of "
                  "query heads) — change heads or kv_heads");
    static_assert(C.head_dim >= 2, "attention_config: set .head_dim to at least 2");
    static_assert(C.head_dim % 2 == 0, "attention_config: .head_dim must be even — RoPE rotates pairs of dimensions");
    static_assert(whole_blocks<C.weights, "attention_config.model_width", C.model_width> &&
                  whole_blocks<C.weights, "attention_config.heads * head_dim", C.heads * C.head_dim>);
    static_assert(C.head_dim % block_width_of(C.cache) == 0,
                  "attention_config: a q8_0 KV cache stores each head's keys and values in blocks of 32 values — "
                  ".head_dim must be a multiple of 32 (or choose a bf16/fp16/fp32 .cache)");
    static constexpr bool value = true;
};

template <mla_config C>
struct check_mla_config {
    static_assert(C.model_width >= 1, "mla_config: set .model_width (hidden_size) to at least 1");
    static_assert(C.heads >= 1, "mla_config: set .heads (num_attention_heads) to at least 1");
    static_assert(C.q_lora_rank >= 0, "mla_config: .q_lora_rank cannot be negative (0 = no query compression)");
    static_assert(C.kv_lora_rank >= 1, "mla_config: set .kv_lora_rank (the latent width) to at least 1");
    static_assert(C.qk_nope_head_dim >= 1, "mla_config: set .qk_nope_head_dim to at least 1");
    static_assert(C.qk_rope_head_dim >= 2, "mla_config: set .qk_rope_head_dim to at least 2");
    static_assert(C.qk_rope_head_dim % 2 == 0,
                  "mla_config: .qk_rope_head_dim must be even — RoPE rotates pairs of dimensions");
    static_assert(C.v_head_dim >= 1, "mla_config: set .v_head_dim to at least 1");
    static_assert(whole_blocks<C.weights, "mla_config.model_width", C.model_width> &&
                  whole_blocks<C.weights, "mla_config.q_lora_rank", C.q_lora_rank> &&
                  whole_blocks<C.weights, "mla_config.kv_lora_rank", C.kv_lora_rank> &&
                  whole_blocks<C.weights, "mla_config.heads * v_head_dim", C.heads * C.v_head_dim>);
    static_assert(C.kv_lora_rank % block_width_of(C.cache) == 0 && C.qk_rope_head_dim % block_width_of(C.cache) == 0,
                  "mla_config: a q8_0 latent cache stores [latent | rope key] rows in blocks of 32 values — "
                  ".kv_lora_rank and .qk_rope_head_dim must be multiples of 32 (or choose a bf16/fp16/fp32 .cache)");
    static constexpr bool value = true;
};

}  // namespace moe
