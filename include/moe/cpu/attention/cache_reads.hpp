// moe/cpu/attention/cache_reads.hpp — cache rows of any format as fp32 for the attention kernels' Eigen products.
//
// An fp32 cache is read in place. Other formats (bf16, fp16, q8_0) are widened slice by slice into the running
// thread's scratch — one kv head's columns of the rows a work item reads — so a step streams the cache once in its
// storage format and the products stay the fp32 ones of the reference format.
#pragma once

#include <cstdint>
#include <type_traits>

#include "moe/cpu/attention/attention_shapes.hpp"
#include "moe/cpu/workspace.hpp"
#include "moe/precision/kv_cache_format.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu::detail {

// fp32 rows: row r of the slice starts at data + r · stride.
struct float_rows {
    const float* data = nullptr;
    std::int64_t stride = 0;
};

// cache: (·, W) in any format. Rows [first, first + n), columns [column, column + width) as fp32: in place for fp32,
// else widened into `buffer` (n, width). For q8_0, column and width are multiples of 32 (whole blocks).
template <class Element>
float_rows read_cache_rows(matrix_view<const Element> cache, std::int64_t first, std::int64_t n, std::int64_t column,
                           std::int64_t width, float* buffer) {
    if (n == 0) return {nullptr, width};  // an empty segment (no shared prefix) may have no memory at all
    if constexpr (std::is_same_v<Element, float>) {
        return {cache.row(first) + column, cache.cols};
    } else {
        using traits = kv_cache_format_traits<kv_cache_format_of<Element>>;
        static_assert(std::is_same_v<typename traits::element, Element>, "not a KV cache element type");
        for (std::int64_t r = 0; r < n; ++r) {
            traits::load_row(cache.row(first + r) + column / traits::block_width, width, buffer + r * width);
        }
        return {buffer, width};
    }
}

// True when the values are the first Dv columns of the key rows (MLA's latent cache passed as both): the kernels
// then widen those rows once and read the values from the widened keys.
template <class Element>
bool values_in_keys(shared_kv<Element> shared, matrix_view<const Element> keys, matrix_view<const Element> values,
                    attention_heads shape) {
    return values.data == keys.data && shared.values.data == shared.keys.data && shape.kv_heads == 1 &&
           shape.value_dim <= shape.key_dim;
}

// The fp32 scratch for read_cache_rows: nothing for fp32 (read in place), else the slot's buffer of `count` floats.
template <class Element>
float* cache_read_buffer(scratch_slot slot, std::int64_t count) {
    if constexpr (std::is_same_v<Element, float>) {
        return nullptr;
    } else {
        return scratch<float>(slot, count);
    }
}

// q: (T, H·Dk) → the queries as the cache format's key products see them: q itself unless the format rounds queries
// (q8_0: each 32-value block through the cache's own quantizer, as llama.cpp converts Q to the K type), else a
// rounded copy in the calling thread's rounded_queries slot.
template <class Element>
matrix_view<const float> queries_for_cache(matrix_view<const float> q) {
    constexpr kv_cache_format format = kv_cache_format_of<Element>;
    if constexpr (!kv_cache_format_traits<format>::rounds_queries) {
        return q;
    } else {
        float* rounded = scratch<float>(scratch_slot::rounded_queries, q.rows * q.cols);
        for (std::int64_t t = 0; t < q.rows; ++t) round_query_row<format>(q.row(t), q.cols, rounded + t * q.cols);
        return {rounded, q.rows, q.cols};
    }
}

}  // namespace moe::cpu::detail
