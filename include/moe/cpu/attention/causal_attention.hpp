// moe/cpu/attention/causal_attention.hpp — softmax(q·kᵀ · scale + causal mask) · v over cached positions.
//
// The core shared by grouped-query attention (G kv heads, H/G query heads each) and multi-head latent attention
// (absorbed: one shared "kv head" of width R + Dr whose first R columns are also the values).
// Scores and softmax are fp32, in the order transformers' eager_attention_forward uses: (q·kᵀ)·scale, then
// exp(s − max) / Σ, then the weighted sum of values. Masked positions get weight exactly 0.
// Two kernels: prefill (16 or more query tokens) runs per_head_attention below, whose work items are (query head,
// block of 16 query tokens); decode runs split_kv_attention (split_kv_attention.hpp), whose items are (kv head,
// chunk of cached positions). Both split work by the shapes only, so any thread count gives the same bits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "moe/cpu/attention/attention_shapes.hpp"
#include "moe/cpu/attention/split_kv_attention.hpp"
#include "moe/cpu/workspace.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

namespace detail {
inline constexpr std::int64_t query_tokens_per_item = 16;
}  // namespace detail

template <class Element>
void causal_attention(matrix_view<const float> q, shared_kv<Element> shared, matrix_view<const Element> keys,
                      matrix_view<const Element> values, attention_heads shape, float scale, matrix_view<float> out,
                      thread_pool& pool, std::int64_t sliding_window = 0);

// q:      (T, H·Dk)   queries of the T newest positions; query t sits at position L − T + t
// keys:   (L, ≥ G·Dk) kv head g in columns [g·Dk, (g+1)·Dk); the row stride is keys.cols
// values: (L, ≥ G·Dv) kv head g in columns [g·Dv, (g+1)·Dv); the row stride is values.cols
// out:    (T, H·Dv)   must not overlap the inputs
// Query t at position p = L − T + t attends to keys 0 … p (causal, including itself); with a sliding window W > 0
// only to keys p − W < j ≤ p (transformers' sliding_window_overlay: kv_idx > q_idx − W).
// keys / values may be stored in any KV cache format (Element = float, bfloat16, float16, q8_0_block): they are read
// as fp32 (cache_reads.hpp), and a q8_0 cache's key products see q8_0-rounded queries, as llama.cpp's do.
template <class Element>
void causal_attention(matrix_view<const float> q, matrix_view<const Element> keys, matrix_view<const Element> values,
                      attention_heads shape, float scale, matrix_view<float> out, thread_pool& pool,
                      std::int64_t sliding_window = 0) {
    causal_attention(q, shared_kv<Element>{}, keys, values, shape, scale, out, pool, sliding_window);
}

// The per-head kernel, used for prefill (causal_attention picks it for T ≥ 16 query tokens): a work item is (query
// head, block of 16 query tokens), which computes its scores against every key its block sees as one product.
// Same contract as causal_attention. A cache in another format than fp32 is widened per item: the item's kv head
// over its key range, so a prefill reads it once per (query head, block of 16 tokens), like the fp32 cache.
template <class Element>
void per_head_attention(matrix_view<const float> q_in, shared_kv<Element> shared, matrix_view<const Element> keys,
                        matrix_view<const Element> values, attention_heads shape, float scale, matrix_view<float> out,
                        thread_pool& pool, std::int64_t sliding_window = 0) {
    detail::check_attention_arguments("causal_attention", q_in, shared, keys, values, shape, out);
    const matrix_view<const float> q = detail::queries_for_cache<Element>(q_in);  // (T, H·Dk), rounded for q8_0
    const std::int64_t S = shared.keys.rows;
    const std::int64_t T = q.rows, L = S + keys.rows, H = shape.heads, G = shape.kv_heads;
    const std::int64_t Dk = shape.key_dim, Dv = shape.value_dim;
    if (T == 0) return;

    const std::int64_t group = H / G;
    // MLA's latent cache is both: its values are the first Dv columns of the key rows, widened once.
    const bool values_in_keys = detail::values_in_keys(shared, keys, values, shape);
    const std::int64_t token_blocks = (T + detail::query_tokens_per_item - 1) / detail::query_tokens_per_item;
    pool.parallel_for(H * token_blocks, [&](std::int64_t item) {
        const std::int64_t h = item / token_blocks, g = h / group;
        const std::int64_t t0 = (item % token_blocks) * detail::query_tokens_per_item;
        const std::int64_t tokens = std::min(detail::query_tokens_per_item, T - t0);
        const std::int64_t first_position = L - T + t0;  // position of query t0
        // Keys [start, end) cover what any query of the block sees; each row masks the rest of the range.
        const std::int64_t end = first_position + tokens;
        const std::int64_t start = sliding_window > 0 ? std::max<std::int64_t>(0, first_position - sliding_window + 1) : 0;
        const std::int64_t range = end - start;

        // The range splits at S: [start, S) from the shared segment (`before` columns), the rest from own rows.
        const std::int64_t before = std::max<std::int64_t>(0, S - start), own_start = std::max(start, S) - S;
        const std::int64_t own = range - before;

        // The item's keys and values as fp32: [before rows from the shared segment | own rows] (in place for fp32).
        float* key_buffer = detail::cache_read_buffer<Element>(scratch_slot::widened_keys, range * Dk);
        float* value_buffer = detail::cache_read_buffer<Element>(scratch_slot::widened_values, range * Dv);
        const auto read = [&](matrix_view<const Element> view, std::int64_t first, std::int64_t count,
                              std::int64_t column, std::int64_t width, float* buffer) {
            return detail::read_cache_rows(view, first, count, column, width, buffer);
        };
        const detail::float_rows ks = read(shared.keys, start, before, g * Dk, Dk, key_buffer);
        const detail::float_rows ko = read(keys, own_start, own, g * Dk, Dk, key_buffer ? key_buffer + before * Dk : nullptr);
        const detail::float_rows vs = values_in_keys ? ks : read(shared.values, start, before, g * Dv, Dv, value_buffer);
        const detail::float_rows vo =
            values_in_keys ? ko
                           : read(values, own_start, own, g * Dv, Dv, value_buffer ? value_buffer + before * Dv : nullptr);

        const detail::strided_map q_h(q.row(t0) + h * Dk, tokens, Dk, Eigen::OuterStride<>(q.cols));
        const detail::strided_map k_g(ko.data, own, Dk, Eigen::OuterStride<>(ko.stride));
        const detail::strided_map v_g(vo.data, own, Dv, Eigen::OuterStride<>(vo.stride));
        Eigen::Map<row_major_matrix> weights(scratch<float>(scratch_slot::attention_scores, tokens * range), tokens,
                                             range);  // (tokens, range)
        if (before == 0) {
            weights.noalias() = q_h * k_g.transpose();  // (tokens, range)
        } else {
            const detail::strided_map ks_g(ks.data, before, Dk, Eigen::OuterStride<>(ks.stride));
            weights.leftCols(before).noalias() = q_h * ks_g.transpose();  // (tokens, before)
            weights.rightCols(own).noalias() = q_h * k_g.transpose();     // (tokens, own)
        }
        for (std::int64_t r = 0; r < tokens; ++r) {
            const std::int64_t position = first_position + r;
            const std::int64_t lo = (sliding_window > 0 ? std::max(start, position - sliding_window + 1) : 0) - start;
            const std::int64_t hi = position + 1 - start;  // row sees [lo, hi) of the range
            float* row = weights.data() + r * range;
            float max = -std::numeric_limits<float>::infinity();
            for (std::int64_t j = lo; j < hi; ++j) {
                row[j] *= scale;
                max = std::max(max, row[j]);
            }
            float sum = 0.0f;
            for (std::int64_t j = lo; j < hi; ++j) {
                row[j] = std::exp(row[j] - max);
                sum += row[j];
            }
            for (std::int64_t j = lo; j < hi; ++j) row[j] /= sum;
            std::fill(row, row + lo, 0.0f);  // outside the sliding window
            std::fill(row + hi, row + range, 0.0f);  // causal mask
        }
        detail::strided_out_map out_h(out.row(t0) + h * Dv, tokens, Dv, Eigen::OuterStride<>(out.cols));
        if (before == 0) {
            out_h.noalias() = weights * v_g;  // (tokens, Dv)
        } else {
            const detail::strided_map vs_g(vs.data, before, Dv, Eigen::OuterStride<>(vs.stride));
            out_h.noalias() = weights.leftCols(before) * vs_g;
            if (own > 0) out_h.noalias() += weights.rightCols(own) * v_g;
        }
    });
}

// The same over two segments of positions: `shared` holds positions 0 … S − 1 (a prompt prefix read in place from
// another cache), keys / values positions S … L − 1 (L = S + keys.rows). Scores of both segments form one softmax
// row, so the result equals attention over the concatenation (up to fp32 summation order in the value sum, which
// is split at S). Fewer than 16 query tokens (decode) go to split_kv_attention, which reads each kv head's cache
// once for all its query heads; more (prefill) to per_head_attention. The choice depends on T only, so it is the
// same for any thread count.
template <class Element>
void causal_attention(matrix_view<const float> q, shared_kv<Element> shared, matrix_view<const Element> keys,
                      matrix_view<const Element> values, attention_heads shape, float scale, matrix_view<float> out,
                      thread_pool& pool, std::int64_t sliding_window) {
    if (q.rows < detail::query_tokens_per_item) {
        split_kv_attention(q, shared, keys, values, shape, scale, out, pool, sliding_window);
    } else {
        per_head_attention(q, shared, keys, values, shape, scale, out, pool, sliding_window);
    }
}

// fp32 caches from any float views (a host_matrix's view() is not const, which a template would not deduce from).
inline void causal_attention(matrix_view<const float> q, shared_kv<float> shared, matrix_view<const float> keys,
                             matrix_view<const float> values, attention_heads shape, float scale,
                             matrix_view<float> out, thread_pool& pool, std::int64_t sliding_window = 0) {
    causal_attention<float>(q, shared, keys, values, shape, scale, out, pool, sliding_window);
}
inline void causal_attention(matrix_view<const float> q, matrix_view<const float> keys, matrix_view<const float> values,
                             attention_heads shape, float scale, matrix_view<float> out, thread_pool& pool,
                             std::int64_t sliding_window = 0) {
    causal_attention<float>(q, shared_kv<float>{}, keys, values, shape, scale, out, pool, sliding_window);
}

}  // namespace moe::cpu
