// moe/cpu/attention/attention_shapes.hpp — what both CPU attention kernels take: the head layout, the optional shared
// prompt segment, and the argument checks (causal_attention.hpp documents the contract).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "moe/cpu/eigen_maps.hpp"  // Eigen/Core (included there only: see its GCC 105593 note)
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

// How query heads read keys and values.
struct attention_heads {
    int heads = 0;      // H: query heads
    int kv_heads = 0;   // G: key/value heads; query head h reads kv head h / (H/G), as repeat_kv does
    int key_dim = 0;    // Dk: width of one query/key head
    int value_dim = 0;  // Dv: width of one value head
};

// Positions 0 … S − 1 read from another cache (prompt sharing); both views (S, ·) with the strides rules below.
// Element: the cache's storage (float, bfloat16, float16, q8_0_block; kv_cache_format.hpp).
template <class Element = float>
struct shared_kv {
    matrix_view<const Element> keys;    // (S, ≥ G·Dk)
    matrix_view<const Element> values;  // (S, ≥ G·Dv)
};
template <class Element>
shared_kv(matrix_view<Element>, matrix_view<Element>) -> shared_kv<std::remove_const_t<Element>>;

namespace detail {
using strided_map = Eigen::Map<const row_major_matrix, 0, Eigen::OuterStride<>>;
using strided_out_map = Eigen::Map<row_major_matrix, 0, Eigen::OuterStride<>>;

// q (T, H·Dk), shared (S, ·), keys / values (L − S, ·), out (T, H·Dv): the checks of causal_attention's contract.
template <class Element>
void check_attention_arguments(const char* who, matrix_view<const float> q, shared_kv<Element> shared,
                               matrix_view<const Element> keys, matrix_view<const Element> values,
                               attention_heads shape, matrix_view<float> out) {
    const std::int64_t S = shared.keys.rows, T = q.rows, H = shape.heads, G = shape.kv_heads;
    const std::int64_t Dk = shape.key_dim, Dv = shape.value_dim;
    const std::string name(who);
    if (G < 1 || H % G != 0) throw shape_error(name + ": heads must be a multiple of kv_heads");
    require_shape(who, "q", q, T, H * Dk);
    require_shape(who, "out", out, T, H * Dv);
    if (keys.cols < G * Dk || values.cols < G * Dv || values.rows != keys.rows) {
        throw shape_error(name + ": keys " + shape_string(keys.rows, keys.cols) + " / values " +
                          shape_string(values.rows, values.cols) + " too narrow for the kv heads");
    }
    if (S > 0 && (shared.keys.cols < G * Dk || shared.values.cols < G * Dv || shared.values.rows != S)) {
        throw shape_error(name + ": shared keys " + shape_string(S, shared.keys.cols) + " / values " +
                          shape_string(shared.values.rows, shared.values.cols) + " do not fit the kv heads");
    }
    if (T > keys.rows) throw shape_error(name + ": more queries than own cached positions");
    constexpr std::int64_t block = weights_per_element<Element>;  // q8_0: slices are whole 32-value blocks
    if (Dk % block != 0 || Dv % block != 0) {
        throw shape_error(name + ": key/value head widths must be multiples of the cache format's " +
                          std::to_string(block) + "-value blocks");
    }
}
}  // namespace detail

}  // namespace moe::cpu
