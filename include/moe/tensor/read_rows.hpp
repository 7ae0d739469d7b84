// moe/tensor/read_rows.hpp — matrix rows read as fp32 (widened or dequantized), for any storage format: the
// embedding lookup and the few products that run through Eigen (cpu/widen_rows.hpp).
//
// A fixed-layout format's rows read with its traits' read_row; a gguf_mixed matrix's with the block type its view
// carries (precision/formats/gguf_mixed.hpp).
#pragma once

#include <cstdint>

#include "moe/precision/formats.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe {

// m: (R, K) → out: (count, K) fp32, rows [first, first + count) of m. Consecutive rows are contiguous, so one
// read_row call reads them all.
template <class Storage>
void read_matrix_rows(matrix_view<const Storage> m, std::int64_t first, std::int64_t count, float* out) {
    if constexpr (has_fixed_layout_v<Storage>) {
        storage_traits<Storage>::read_row(m.row(first), count * m.cols, out);
    } else {
        storage_traits<Storage>::read_row(m.row(first), count * m.cols, out, m.layout);
    }
}

}  // namespace moe
