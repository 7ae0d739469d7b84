// moe/cpu/attention/kv_cache.hpp — per-layer, per-sequence caches of past positions (rows = positions).
//
//   kv_cache      grouped-query attention: keys (P, G·Dh) after QK-norm and RoPE, values (P, G·Dh)
//   latent_cache  multi-head latent attention: one row per position [ latent (R) | rope key (Dr) ], the latent
//                 after kv_a_layernorm and the shared key after RoPE — never the expanded per-head K/V
// P = capacity, fixed at creation (memory is allocated once). A forward that would exceed it throws
// kv_cache_full before changing anything; the cache stays usable.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

class kv_cache_full : public std::length_error {
   public:
    using std::length_error::length_error;
};

// Position bookkeeping shared by both caches.
class cache_positions {
   public:
    explicit cache_positions(std::int64_t capacity) : capacity_(capacity) {
        if (capacity < 0) throw std::invalid_argument("kv cache: capacity cannot be negative");
    }
    std::int64_t size() const { return size_; }  // positions cached so far
    std::int64_t capacity() const { return capacity_; }
    std::int64_t room() const { return capacity_ - size_; }
    // Forgets every position (a new sequence); memory is kept.
    void clear() { size_ = 0; }

    // Throws kv_cache_full unless `tokens` more positions fit.
    void require_room(std::int64_t tokens) const {
        if (tokens > room()) {
            throw kv_cache_full("kv cache full: " + std::to_string(size_) + " positions cached, " +
                                std::to_string(tokens) + " more requested, capacity " + std::to_string(capacity_) +
                                " — create the cache with a larger capacity");
        }
    }
    // Called by the layer after it has written rows [size, size + tokens).
    void commit(std::int64_t tokens) {
        require_room(tokens);
        size_ += tokens;
    }

   private:
    std::int64_t capacity_ = 0;
    std::int64_t size_ = 0;
};

class kv_cache : public cache_positions {
   public:
    // kv_width = kv_heads · head_dim (attention_config::kv_width()).
    kv_cache(std::int64_t capacity, std::int64_t kv_width)
        : cache_positions(capacity), keys_(capacity, kv_width), values_(capacity, kv_width) {}

    std::int64_t kv_width() const { return keys_.cols(); }
    std::int64_t bytes_per_token() const { return 2 * kv_width() * std::int64_t{sizeof(float)}; }

    // Rows [first, first + count) of the keys / values: (count, G·Dh).
    matrix_view<float> keys(std::int64_t first, std::int64_t count) { return {keys_.row(first), count, kv_width()}; }
    matrix_view<float> values(std::int64_t first, std::int64_t count) { return {values_.row(first), count, kv_width()}; }
    // The cached positions: (size, G·Dh).
    matrix_view<const float> keys() const { return {keys_.data(), size(), kv_width()}; }
    matrix_view<const float> values() const { return {values_.data(), size(), kv_width()}; }

   private:
    host_matrix<float> keys_;    // (P, G·Dh)
    host_matrix<float> values_;  // (P, G·Dh)
};

class latent_cache : public cache_positions {
   public:
    // latent_width = kv_lora_rank (R), rope_width = qk_rope_head_dim (Dr).
    latent_cache(std::int64_t capacity, std::int64_t latent_width, std::int64_t rope_width)
        : cache_positions(capacity), latent_width_(latent_width), rows_(capacity, latent_width + rope_width) {}

    std::int64_t latent_width() const { return latent_width_; }
    std::int64_t rope_width() const { return rows_.cols() - latent_width_; }
    std::int64_t bytes_per_token() const { return rows_.cols() * std::int64_t{sizeof(float)}; }

    // Rows [first, first + count): (count, R + Dr), columns [0, R) latent, [R, R + Dr) rope key.
    matrix_view<float> rows(std::int64_t first, std::int64_t count) { return {rows_.row(first), count, rows_.cols()}; }
    // The cached positions: (size, R + Dr).
    matrix_view<const float> rows() const { return {rows_.data(), size(), rows_.cols()}; }

   private:
    std::int64_t latent_width_ = 0;
    host_matrix<float> rows_;  // (P, R + Dr)
};

}  // namespace moe::cpu
