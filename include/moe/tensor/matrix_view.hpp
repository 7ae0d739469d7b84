// moe/tensor/matrix_view.hpp — non-owning row-major matrix views, an owning host matrix, and shape errors.
//
// Views never own: weights usually live in a memory-mapped checkpoint. host_matrix owns, for activations,
// converted weights and tests. All matrices are dense row-major. `cols` counts weights: for block-quantized
// storage (q8_0_block holds 32 weights, see precision/q8_0.hpp) a row is cols / weights_per_element<T> elements,
// so shapes, row slicing and shape checks read the same for every storage format.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "moe/error.hpp"
#include "moe/precision/matrix_layout.hpp"
#include "moe/precision/weights_per_element.hpp"

namespace moe {

// Thrown when a tensor's shape or presence does not match what the model type needs.
class shape_error : public error_with<std::invalid_argument> {
   public:
    using error_with::error_with;
};

template <class T>
struct matrix_view {
    static constexpr std::int64_t per_element = weights_per_element<std::remove_const_t<T>>;

    T* data = nullptr;
    std::int64_t rows = 0;
    std::int64_t cols = 0;  // in weights
    // How a row is laid out: empty (no bytes) for every storage type but mixed_block, whose matrices each hold
    // the block type their file gave them (precision/matrix_layout.hpp). Copies and sub_rows keep it.
    [[no_unique_address]] matrix_layout_t<T> layout{};

    // Elements of T per row.
    std::int64_t row_elements() const { return layout.row_elements(cols); }
    T* row(std::int64_t r) const { return data + r * row_elements(); }
    T& operator()(std::int64_t r, std::int64_t c) const
        requires(per_element == 1 && has_fixed_layout_v<T>)
    {
        return data[r * cols + c];
    }
    std::int64_t size() const { return rows * row_elements(); }  // elements
    std::span<T> span() const { return {data, static_cast<std::size_t>(size())}; }
    // Read-only view of the same memory.
    operator matrix_view<const T>() const { return {data, rows, cols, layout}; }
};

// Rows [first, first + count) of m as a view of the same memory and layout (a fused tensor's parts, a row block).
template <class T>
matrix_view<T> sub_rows(matrix_view<T> m, std::int64_t first, std::int64_t count) {
    return {m.row(first), count, m.cols, m.layout};
}

template <class T>
class host_matrix {
   public:
    static constexpr std::int64_t per_element = weights_per_element<T>;

    host_matrix() = default;
    // cols counts weights and must be a multiple of per_element (always true for per_element == 1).
    host_matrix(std::int64_t rows, std::int64_t cols, T fill = T{})
        : rows_(rows), cols_(cols), data_(static_cast<std::size_t>(rows * (cols / per_element)), fill) {
        if (cols % per_element != 0) {
            std::string message = "host_matrix: ";  // append: see shape_string (GCC bug 105651)
            message.append(std::to_string(cols)).append(" columns is not a multiple of the ");
            message.append(std::to_string(per_element)).append("-weight blocks of its storage type");
            throw shape_error(message);
        }
    }

    matrix_view<T> view() { return {data_.data(), rows_, cols_}; }
    matrix_view<const T> view() const { return {data_.data(), rows_, cols_}; }
    T* row(std::int64_t r) { return data_.data() + r * (cols_ / per_element); }
    const T* row(std::int64_t r) const { return data_.data() + r * (cols_ / per_element); }
    T& operator()(std::int64_t r, std::int64_t c)
        requires(per_element == 1)
    {
        return data_[static_cast<std::size_t>(r * cols_ + c)];
    }
    const T& operator()(std::int64_t r, std::int64_t c) const
        requires(per_element == 1)
    {
        return data_[static_cast<std::size_t>(r * cols_ + c)];
    }
    T* data() { return data_.data(); }
    const T* data() const { return data_.data(); }
    std::int64_t rows() const { return rows_; }
    std::int64_t cols() const { return cols_; }
    // Grows the buffer when needed; never shrinks capacity (reused as a workspace).
    void resize(std::int64_t rows, std::int64_t cols) {
        rows_ = rows;
        cols_ = cols;
        data_.resize(static_cast<std::size_t>(rows * (cols / per_element)));
    }

   private:
    std::int64_t rows_ = 0;
    std::int64_t cols_ = 0;
    std::vector<T> data_;
};

// Messages here are built with append: GCC 12 reports a false -Wrestrict inside `"(" + std::string` and
// `std::string + std::string` once inlined (GCC bug 105651), which would fail a consumer's -Werror build.
inline std::string shape_string(std::int64_t rows, std::int64_t cols) {
    std::string s = "(";
    s.append(std::to_string(rows)).append(", ").append(std::to_string(cols)).append(")");
    return s;
}

// Throws shape_error naming the tensor when `view` is missing or not (rows, cols).
template <class T>
void require_shape(std::string_view owner, std::string_view tensor, matrix_view<T> view, std::int64_t rows,
                   std::int64_t cols) {
    const bool missing = view.data == nullptr && rows * cols > 0;
    if (!missing && view.rows == rows && view.cols == cols) return;
    std::string message(owner);
    message.append(": tensor '").append(tensor);
    if (missing)
        message.append("' is missing; expected shape ").append(shape_string(rows, cols));
    else
        message.append("' has shape ").append(shape_string(view.rows, view.cols)).append(", expected ").append(
            shape_string(rows, cols));
    throw shape_error(message);
}

}  // namespace moe
