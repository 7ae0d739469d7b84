// moe/cpu/widen_rows.hpp — weight rows as an fp32 Eigen map, for the few products that run through Eigen
// (multi-head latent attention's absorbed kv_b_proj).
#pragma once

#include <cstdint>
#include <type_traits>

#include "moe/config/precision.hpp"
#include "moe/cpu/eigen_maps.hpp"
#include "moe/cpu/workspace.hpp"
#include "moe/tensor/read_rows.hpp"

namespace moe::cpu {

// fp32 view of rows [first_row, first_row + rows) of a (·, cols) weight matrix: fp32 weights in place, any other
// format read into the running thread's widened_rows scratch (read_matrix_rows; consecutive rows
// are contiguous, so one call reads them all) — valid until the thread's next widen_rows.
template <class Storage>
const_matrix_map widen_rows(matrix_view<const Storage> weight, std::int64_t first_row, std::int64_t rows) {
    if constexpr (std::is_same_v<Storage, float>) {
        return {weight.row(first_row), rows, weight.cols};
    } else {
        const std::int64_t count = rows * weight.cols;
        float* buffer = scratch<float>(scratch_slot::widened_rows, count);
        read_matrix_rows(weight, first_row, rows, buffer);  // with the view's block type for gguf_mixed
        return {buffer, rows, weight.cols};
    }
}

}  // namespace moe::cpu
