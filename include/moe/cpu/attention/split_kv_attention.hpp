// moe/cpu/attention/split_kv_attention.hpp — attention of a few query tokens over a long cache (decode), split over
// the cache (flash-decoding).
//
// At decode a step has one query token per sequence, so the per-head kernel (causal_attention.hpp) has H small
// work items, each reading its kv head's whole cache: a kv head shared by H/G query heads is read H/G times (4 for
// Mixtral's GQA, all 16 heads for MLA's one latent "kv head"), and a long thought makes that the step's largest
// memory traffic. Here a work item is a chunk of `positions_per_chunk` cached positions, all kv heads: it reads the
// chunk's rows once, front to back (whole rows: a kv head's slice alone is a 512-byte piece of every 4 KiB row, which
// defeats the prefetcher), for every query head and query token, and keeps for each query
// row an online-softmax partial — the chunk's maximum score m, Σ exp(s − m) and Σ exp(s − m)·v. A second pass
// merges the chunks of each row in position order: exp(m_c − M) rescales each chunk to the row's maximum M.
//
// Chunks are fixed by the shapes (positions, sliding window, shared prefix length), never by the thread count, and
// the merge order is fixed: any thread count gives the same bits. Scores and softmax are fp32, as in the per-head
// kernel; the results differ from it only in fp32 summation order (the value sum is split at chunk boundaries).
//
// Caches in bf16, fp16 or q8_0 are read in their format and widened per chunk and kv head into the item's scratch
// (cache_reads.hpp): a step reads the cache's own bytes once, and the products stay fp32.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "moe/cpu/attention/attention_shapes.hpp"
#include "moe/cpu/attention/cache_reads.hpp"
#include "moe/cpu/workspace.hpp"
#include "moe/runtime/thread_pool.hpp"

namespace moe::cpu {

namespace detail {
// Cached positions per work item: 256 rows of a 128-wide head are 128 KiB of keys and values, which stay in L2
// while every query row of the group reads them; at 16k positions a kv head still splits into 64 items.
inline constexpr std::int64_t positions_per_chunk = 256;

// The chunks of [start, end), split at S: [start, S) from the shared segment, then [max(start, S), end) from the
// cache's own rows, each cut into positions_per_chunk pieces (the last one shorter).
struct position_chunks {
    std::int64_t start = 0, end = 0, S = 0;
    std::int64_t shared_count = 0, own_begin = 0, own_count = 0;

    position_chunks(std::int64_t start_, std::int64_t end_, std::int64_t shared_)
        : start(start_), end(end_), S(shared_), own_begin(std::max(start_, shared_)) {
        const std::int64_t C = positions_per_chunk;
        shared_count = start < S ? (std::min(S, end) - start + C - 1) / C : 0;
        own_count = end > own_begin ? (end - own_begin + C - 1) / C : 0;
    }
    std::int64_t count() const { return shared_count + own_count; }
    bool is_shared(std::int64_t c) const { return c < shared_count; }
    std::int64_t begin(std::int64_t c) const {
        return is_shared(c) ? start + c * positions_per_chunk : own_begin + (c - shared_count) * positions_per_chunk;
    }
    std::int64_t stop(std::int64_t c) const {
        return std::min(is_shared(c) ? std::min(S, end) : end, begin(c) + positions_per_chunk);
    }
};
}  // namespace detail

// Same contract as causal_attention (causal_attention.hpp): q (T, H·Dk), shared (S, ·), keys / values (L − S, ·),
// out (T, H·Dv); query t at position L − T + t sees keys 0 … p, or p − W < j ≤ p with a sliding window W > 0.
// Meant for small T (decode); every query row of a kv group reads each chunk from the same cache lines.
// Element: the cache's storage type (float, bfloat16, float16, q8_0_block).
template <class Element>
void split_kv_attention(matrix_view<const float> q_in, shared_kv<Element> shared, matrix_view<const Element> keys,
                        matrix_view<const Element> values, attention_heads shape, float scale, matrix_view<float> out,
                        thread_pool& pool, std::int64_t sliding_window = 0) {
    detail::check_attention_arguments("split_kv_attention", q_in, shared, keys, values, shape, out);
    const matrix_view<const float> q = detail::queries_for_cache<Element>(q_in);  // (T, H·Dk), rounded for q8_0
    const std::int64_t S = shared.keys.rows, T = q.rows, L = S + keys.rows, H = shape.heads, G = shape.kv_heads;
    const std::int64_t Dk = shape.key_dim, Dv = shape.value_dim;
    if (T == 0) return;
    const std::int64_t group = H / G, rows = T * group;  // query rows of one kv head: row t·group + i is head g·group + i
    const std::int64_t first_position = L - T;           // position of query 0
    const std::int64_t start = sliding_window > 0 ? std::max<std::int64_t>(0, first_position - sliding_window + 1) : 0;
    const detail::position_chunks chunks(start, L, S);
    const std::int64_t C = chunks.count();

    // Partials (kind 3 state: the calling thread's buffer, written by every item, read by the merge): kv head g, chunk c,
    // query row r, Dv + 2 floats at ((g·C + c)·rows + r)·(Dv + 2): [ Σ exp(s − m)·v (Dv) | m | Σ exp(s − m) ].
    const std::int64_t stride = Dv + 2;
    float* partials = scratch<float>(scratch_slot::attention_partials, G * C * rows * stride);

    // MLA's latent cache is both: its values are the first Dv columns of the key rows, widened once.
    const bool values_in_keys = detail::values_in_keys(shared, keys, values, shape);

    pool.parallel_for(C, [&](std::int64_t c) {
        const std::int64_t begin = chunks.begin(c), n = chunks.stop(c) - begin;
        const bool from_shared = chunks.is_shared(c);
        const matrix_view<const Element> key_view = from_shared ? shared.keys : keys;
        const matrix_view<const Element> value_view = from_shared ? shared.values : values;
        const std::int64_t first_row = from_shared ? begin : begin - S;
        float* key_buffer = detail::cache_read_buffer<Element>(scratch_slot::widened_keys, n * Dk);
        float* value_buffer = detail::cache_read_buffer<Element>(scratch_slot::widened_values, n * Dv);
        // Scores (rows, n) with rows starting on 64-byte boundaries: Eigen's vectorized exp below peels unaligned
        // leading elements onto a scalar path whose results differ in the last bit, so the alignment must come
        // from the shapes, not from where a thread's scratch buffer happens to sit.
        const std::int64_t row_stride = (n + 15) / 16 * 16;
        float* scores = scratch<float>(scratch_slot::attention_scores, rows * row_stride + 16);
        scores += (16 - (reinterpret_cast<std::uintptr_t>(scores) / sizeof(float)) % 16) % 16;
        detail::strided_out_map weights(scores, rows, n, Eigen::OuterStride<>(row_stride));
        for (std::int64_t g = 0; g < G; ++g) {  // kv heads of the same rows: the item reads whole cache rows
            const detail::float_rows k_rows = detail::read_cache_rows(key_view, first_row, n, g * Dk, Dk, key_buffer);
            const detail::float_rows v_rows =
                values_in_keys ? k_rows : detail::read_cache_rows(value_view, first_row, n, g * Dv, Dv, value_buffer);
            const detail::strided_map k_c(k_rows.data, n, Dk, Eigen::OuterStride<>(k_rows.stride));  // (n, Dk)
            const detail::strided_map v_c(v_rows.data, n, Dv, Eigen::OuterStride<>(v_rows.stride));  // (n, Dv)
            for (std::int64_t t = 0; t < T; ++t) {  // the group's heads of token t: `group` consecutive Dk slices
                const detail::strided_map q_t(q.row(t) + g * group * Dk, group, Dk, Eigen::OuterStride<>(Dk));
                weights.middleRows(t * group, group).noalias() = q_t * k_c.transpose();  // (group, n)
            }
            float* partial = partials + (g * C + c) * rows * stride;
            for (std::int64_t r = 0; r < rows; ++r) {
                const std::int64_t position = first_position + r / group;
                const std::int64_t lo = std::clamp<std::int64_t>(
                    (sliding_window > 0 ? position - sliding_window + 1 : 0) - begin, 0, n);
                const std::int64_t hi = std::clamp<std::int64_t>(position + 1 - begin, 0, n);  // row sees [lo, hi)
                float* row = scores + r * row_stride;
                float max = -std::numeric_limits<float>::infinity(), sum = 0.0f;
                if (hi > lo) {
                    Eigen::Map<Eigen::ArrayXf> seen(row + lo, hi - lo);
                    seen *= scale;
                    max = seen.maxCoeff();
                    seen = (seen - max).exp();  // vectorized: a scalar exp per score was most of a long step
                    for (std::int64_t j = lo; j < hi; ++j) sum += row[j];  // fixed order
                }
                std::fill(row, row + lo, 0.0f);       // outside the sliding window
                std::fill(row + hi, row + n, 0.0f);   // causal mask (and rows that see nothing here)
                partial[r * stride + Dv] = max;       // −inf when the row sees no position of this chunk
                partial[r * stride + Dv + 1] = sum;
            }
            detail::strided_out_map o(partial, rows, Dv, Eigen::OuterStride<>(stride));
            o.noalias() = weights * v_c;  // (rows, Dv)
        }
    });

    // Merge each row's chunks in position order: out = Σ_c exp(m_c − M)·o_c / Σ_c exp(m_c − M)·l_c.
    pool.parallel_for(G * rows, [&](std::int64_t item) {
        const std::int64_t g = item / rows, r = item % rows;
        const std::int64_t t = r / group, h = g * group + r % group;
        float M = -std::numeric_limits<float>::infinity();
        for (std::int64_t c = 0; c < C; ++c) M = std::max(M, partials[((g * C + c) * rows + r) * stride + Dv]);
        float* o = out.row(t) + h * Dv;
        std::fill(o, o + Dv, 0.0f);
        float total = 0.0f;
        for (std::int64_t c = 0; c < C; ++c) {
            const float* partial = partials + ((g * C + c) * rows + r) * stride;
            if (partial[Dv] == -std::numeric_limits<float>::infinity()) continue;  // saw nothing in this chunk
            const float factor = std::exp(partial[Dv] - M);
            total += factor * partial[Dv + 1];
            for (std::int64_t d = 0; d < Dv; ++d) o[d] += factor * partial[d];
        }
        const float inverse = 1.0f / total;  // every row sees at least its own position
        for (std::int64_t d = 0; d < Dv; ++d) o[d] *= inverse;
    });
}

}  // namespace moe::cpu
