// moe/precision/matrix_layout.hpp — how a matrix row of a storage type is laid out: fixed by the type, or chosen
// per matrix at run time.
//
// Every storage type but one fixes its rows: a row of `cols` weights is cols / weights_per_element<T> elements,
// so its layout, fixed_layout<T>, is an empty type (matrix_view keeps it as a [[no_unique_address]] member: no
// bytes, and {data, rows, cols} still builds a view). weight_format::gguf_mixed (precision/mixed_block.hpp) stores
// each matrix in the block type the GGUF file gave it; its layout holds that type, and specialises
// matrix_layout_of so its views carry it.
#pragma once

#include <cstdint>
#include <type_traits>

#include "moe/precision/weights_per_element.hpp"

namespace moe {

// The layout of storage types whose rows are fixed by the type: no run-time state.
template <class T>
struct fixed_layout {
    static constexpr bool fixed = true;
    // Elements of T in a row of `cols` weights.
    static constexpr std::int64_t row_elements(std::int64_t cols) { return cols / weights_per_element<T>; }
    friend constexpr bool operator==(fixed_layout, fixed_layout) { return true; }
};

// Specialised by storage whose layout is per matrix (its `type` then has a non-static row_elements(cols)).
template <class T>
struct matrix_layout_of {
    using type = fixed_layout<T>;
};

// The layout a matrix_view<T> carries (T const or not).
template <class T>
using matrix_layout_t = typename matrix_layout_of<std::remove_const_t<T>>::type;

// True when every matrix of T has the same row layout (all storage types except mixed_block).
template <class T>
inline constexpr bool has_fixed_layout_v = std::is_same_v<matrix_layout_t<T>, fixed_layout<std::remove_const_t<T>>>;

}  // namespace moe
