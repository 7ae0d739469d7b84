// moe/cpu/attention/kv_cache.hpp — per-layer, per-sequence caches of past positions (rows = positions).
//
//   kv_cache      grouped-query attention: keys (P, G·Dh) after QK-norm and RoPE, values (P, G·Dh)
//   latent_cache  multi-head latent attention: one row per position [ latent (R) | rope key (Dr) ], the latent
//                 after kv_a_layernorm and the shared key after RoPE — never the expanded per-head K/V
// Both are templates on the storage format (basic_kv_cache<Format>, basic_latent_cache<Format>; kv_cache and
// latent_cache are the fp32 ones): rows hold kv_cache_element_t<Format> (float, bfloat16, float16 or q8_0_block
// — a q8_0 row of W values is W/32 blocks, views count columns in values), written from fp32 by store_rows.
// P = capacity, fixed at creation; a forward that would exceed it throws kv_cache_full before changing anything
// and the cache stays usable. Memory grows on demand: rows are allocated when positions are about to be written,
// doubling (at least cache_rows::min_growth rows) up to P, so a 1M-position capacity costs nothing until used and
// at most twice what is used. Nothing is allocated at creation; bytes_allocated() says what is held.
//
// Prompt sharing: `kv_cache::sharing(prefix, capacity)` / `latent_cache::sharing(...)` make a cache whose first
// S = prefix.size() positions are *read* from `prefix` (never copied) and whose own rows hold positions S … P − 1,
// so several branches of one prompt keep a single copy of the prompt's keys and values. Attention then reads two
// segments: shared rows (S, ·) from the prefix and own rows (size − S, ·). The prefix must outlive the cache and
// must not change while it is shared (causal_lm::share keeps it alive and const).
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "moe/error.hpp"
#include "moe/precision/kv_cache_format.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

class kv_cache_full : public error_with<std::length_error> {
   public:
    using error_with::error_with;
};

// Position bookkeeping shared by both caches.
class cache_positions {
   public:
    explicit cache_positions(std::int64_t capacity, std::int64_t shared = 0)
        : capacity_(capacity), size_(shared), shared_(shared) {
        if (capacity < 0) throw moe::invalid_argument("kv cache: capacity cannot be negative");
        if (shared < 0 || shared > capacity) {
            throw moe::invalid_argument("kv cache: a shared prefix of " + std::to_string(shared) +
                                        " positions does not fit a capacity of " + std::to_string(capacity));
        }
    }
    std::int64_t size() const { return size_; }  // positions cached so far, shared ones included
    std::int64_t capacity() const { return capacity_; }
    std::int64_t room() const { return capacity_ - size_; }
    std::int64_t shared() const { return shared_; }  // S: positions read from a prefix cache (0 when none)
    // Forgets every own position (a new sequence, or back to the shared prefix); memory is kept.
    void clear() { size_ = shared_; }

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

   protected:
    // Absolute positions [first, first + count) → first row of the cache's own storage. Writing into the shared
    // prefix, or into rows not yet allocated (require_room / reserve first), is a bug.
    std::int64_t own_rows(std::int64_t first, std::int64_t count, std::int64_t allocated) const {
        if (first < shared_) throw moe::logic_error("kv cache: the shared prefix is read-only");
        if (count < 0 || first - shared_ + count > allocated) {
            throw moe::logic_error("kv cache: positions [" + std::to_string(first) + ", " + std::to_string(first + count) +
                                   ") are not allocated (" + std::to_string(shared_ + allocated) +
                                   " are; call require_room or reserve first)");
        }
        return first - shared_;
    }

   private:
    std::int64_t capacity_ = 0;
    std::int64_t size_ = 0;
    std::int64_t shared_ = 0;
};

// rows: (n, W) fp32 → cache: (n, W) in its format (rounded or quantized row by row).
template <kv_cache_format Format>
void store_rows(matrix_view<const float> rows, matrix_view<kv_cache_element_t<Format>> cache) {
    for (std::int64_t r = 0; r < rows.rows; ++r) {
        kv_cache_format_traits<Format>::store_row(rows.row(r), rows.cols, cache.row(r));
    }
}

// The own rows of one cache: a (rows, width) matrix grown geometrically, never beyond `max_rows` (P − S).
// Growing keeps the rows already written (row-major, so the prefix of the buffer is unchanged).
template <class Element>
class cache_rows {
   public:
    static constexpr std::int64_t min_growth = 16;  // rows: small caches do not reallocate every token

    cache_rows(std::int64_t max_rows, std::int64_t width) : max_rows_(max_rows) {
        if (width < 0 || width % weights_per_element<Element> != 0) {
            throw moe::invalid_argument("kv cache: a row of " + std::to_string(width) + " values is not a whole number of "
                                        "the cache format's " + std::to_string(weights_per_element<Element>) +
                                        "-value blocks");
        }
        rows_ = host_matrix<Element>(0, width);
    }

    // Makes rows [0, rows) exist; rows ≤ max_rows (the caller checked the capacity).
    void reserve(std::int64_t rows) {
        if (rows <= rows_.rows()) return;
        if (rows > max_rows_) {
            throw moe::logic_error("kv cache: " + std::to_string(rows) + " rows requested, capacity " +
                                   std::to_string(max_rows_));
        }
        const std::int64_t grown = std::min(max_rows_, std::max({rows, 2 * rows_.rows(), min_growth}));
        rows_.resize(grown, rows_.cols());
    }
    std::int64_t allocated() const { return rows_.rows(); }
    std::int64_t width() const { return rows_.cols(); }
    Element* row(std::int64_t r) { return rows_.row(r); }
    const Element* data() const { return rows_.data(); }

   private:
    std::int64_t max_rows_ = 0;
    host_matrix<Element> rows_;  // (allocated, width)
};

template <kv_cache_format Format>
class basic_kv_cache : public cache_positions {
   public:
    static constexpr kv_cache_format format = Format;
    using element = kv_cache_element_t<Format>;

    // kv_width = kv_heads · head_dim (attention_config::kv_width()); a multiple of 32 for q8_0.
    basic_kv_cache(std::int64_t capacity, std::int64_t kv_width)
        : cache_positions(capacity), keys_(capacity, kv_width), values_(capacity, kv_width) {}

    // Throws kv_cache_full unless `tokens` more positions fit, then makes sure their rows are allocated.
    void require_room(std::int64_t tokens) {
        cache_positions::require_room(tokens);
        reserve(size() + tokens);
    }
    // Allocates rows up to absolute position `positions` (≤ capacity); nothing else changes.
    void reserve(std::int64_t positions) {
        const std::int64_t own = std::max<std::int64_t>(positions - shared(), 0);
        keys_.reserve(own);
        values_.reserve(own);
    }

    // Positions [0, prefix.size()) are read from `prefix` without a copy; rows for the rest are allocated here.
    // `prefix` must not itself share (one level keeps attention at two segments).
    static basic_kv_cache sharing(const basic_kv_cache& prefix, std::int64_t capacity) {
        if (prefix.shared() != 0) throw moe::invalid_argument("kv_cache::sharing: the prefix itself shares a prefix");
        return basic_kv_cache(prefix, capacity);
    }

    std::int64_t kv_width() const { return keys_.width(); }
    std::int64_t bytes_per_token() const { return cache_bytes(Format, 2 * kv_width()); }
    // Memory this cache holds now (its own rows only; a shared prefix is counted once, in the prefix).
    std::int64_t bytes_allocated() const { return keys_.allocated() * bytes_per_token(); }

    // Positions [first, first + count) of the keys / values, all own positions (first ≥ shared()), allocated by
    // require_room / reserve: (count, G·Dh).
    matrix_view<element> keys(std::int64_t first, std::int64_t count) {
        return {keys_.row(own_rows(first, count, keys_.allocated())), count, kv_width()};
    }
    matrix_view<element> values(std::int64_t first, std::int64_t count) {
        return {values_.row(own_rows(first, count, values_.allocated())), count, kv_width()};
    }
    // The positions stored here, shared() … size() − 1 (all of them when nothing is shared): (size − S, G·Dh).
    matrix_view<const element> keys() const { return {keys_.data(), size() - shared(), kv_width()}; }
    matrix_view<const element> values() const { return {values_.data(), size() - shared(), kv_width()}; }
    // The shared positions 0 … S − 1, read in place from the prefix: (S, G·Dh); empty when nothing is shared.
    matrix_view<const element> shared_keys() const {
        return prefix_ ? matrix_view<const element>{prefix_->keys_.data(), shared(), kv_width()}
                       : matrix_view<const element>{};
    }
    matrix_view<const element> shared_values() const {
        return prefix_ ? matrix_view<const element>{prefix_->values_.data(), shared(), kv_width()}
                       : matrix_view<const element>{};
    }

   private:
    basic_kv_cache(const basic_kv_cache& prefix, std::int64_t capacity)
        : cache_positions(capacity, prefix.size()), prefix_(&prefix), keys_(capacity - prefix.size(), prefix.kv_width()),
          values_(capacity - prefix.size(), prefix.kv_width()) {}

    const basic_kv_cache* prefix_ = nullptr;
    cache_rows<element> keys_;    // (≤ P − S, G·Dh)
    cache_rows<element> values_;  // (≤ P − S, G·Dh)
};

using kv_cache = basic_kv_cache<kv_cache_format::fp32>;

template <kv_cache_format Format>
class basic_latent_cache : public cache_positions {
   public:
    static constexpr kv_cache_format format = Format;
    using element = kv_cache_element_t<Format>;

    // latent_width = kv_lora_rank (R), rope_width = qk_rope_head_dim (Dr); multiples of 32 for q8_0.
    basic_latent_cache(std::int64_t capacity, std::int64_t latent_width, std::int64_t rope_width)
        : cache_positions(capacity), latent_width_(latent_width), rows_(capacity, latent_width + rope_width) {}

    // Throws kv_cache_full unless `tokens` more positions fit, then makes sure their rows are allocated.
    void require_room(std::int64_t tokens) {
        cache_positions::require_room(tokens);
        reserve(size() + tokens);
    }
    // Allocates rows up to absolute position `positions` (≤ capacity); nothing else changes.
    void reserve(std::int64_t positions) { rows_.reserve(std::max<std::int64_t>(positions - shared(), 0)); }

    // Positions [0, prefix.size()) are read from `prefix` without a copy (see kv_cache::sharing).
    static basic_latent_cache sharing(const basic_latent_cache& prefix, std::int64_t capacity) {
        if (prefix.shared() != 0) throw moe::invalid_argument("latent_cache::sharing: the prefix itself shares a prefix");
        return basic_latent_cache(prefix, capacity);
    }

    std::int64_t latent_width() const { return latent_width_; }
    std::int64_t rope_width() const { return rows_.width() - latent_width_; }
    std::int64_t bytes_per_token() const { return cache_bytes(Format, rows_.width()); }
    std::int64_t bytes_allocated() const { return rows_.allocated() * bytes_per_token(); }  // own rows held now

    // Positions [first, first + count), own ones (first ≥ shared()): (count, R + Dr), columns [0, R) latent,
    // [R, R + Dr) rope key.
    matrix_view<element> rows(std::int64_t first, std::int64_t count) {
        return {rows_.row(own_rows(first, count, rows_.allocated())), count, rows_.width()};
    }
    // The positions stored here, shared() … size() − 1: (size − S, R + Dr).
    matrix_view<const element> rows() const { return {rows_.data(), size() - shared(), rows_.width()}; }
    // The shared positions 0 … S − 1, read in place from the prefix: (S, R + Dr); empty when nothing is shared.
    matrix_view<const element> shared_rows() const {
        return prefix_ ? matrix_view<const element>{prefix_->rows_.data(), shared(), rows_.width()}
                       : matrix_view<const element>{};
    }

   private:
    basic_latent_cache(const basic_latent_cache& prefix, std::int64_t capacity)
        : cache_positions(capacity, prefix.size()), prefix_(&prefix), latent_width_(prefix.latent_width_),
          rows_(capacity - prefix.size(), prefix.rows_.width()) {}

    const basic_latent_cache* prefix_ = nullptr;
    std::int64_t latent_width_ = 0;
    cache_rows<element> rows_;  // (≤ P − S, R + Dr)
};

using latent_cache = basic_latent_cache<kv_cache_format::fp32>;


}  // namespace moe::cpu
