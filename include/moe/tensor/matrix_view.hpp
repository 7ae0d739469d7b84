// moe/tensor/matrix_view.hpp — non-owning row-major matrix views, an owning host matrix, and shape errors.
//
// Views never own: weights usually live in a memory-mapped checkpoint. host_matrix owns, for activations,
// converted weights and tests. All matrices are dense row-major (leading dimension = cols).
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace moe {

// Thrown when a tensor's shape or presence does not match what the model type needs.
class shape_error : public std::invalid_argument {
   public:
    using std::invalid_argument::invalid_argument;
};

template <class T>
struct matrix_view {
    T* data = nullptr;
    std::int64_t rows = 0;
    std::int64_t cols = 0;

    T* row(std::int64_t r) const { return data + r * cols; }
    T& operator()(std::int64_t r, std::int64_t c) const { return data[r * cols + c]; }
    std::int64_t size() const { return rows * cols; }
    std::span<T> span() const { return {data, static_cast<std::size_t>(size())}; }
    // Read-only view of the same memory.
    operator matrix_view<const T>() const { return {data, rows, cols}; }
};

template <class T>
class host_matrix {
   public:
    host_matrix() = default;
    host_matrix(std::int64_t rows, std::int64_t cols, T fill = T{})
        : rows_(rows), cols_(cols), data_(static_cast<std::size_t>(rows * cols), fill) {}

    matrix_view<T> view() { return {data_.data(), rows_, cols_}; }
    matrix_view<const T> view() const { return {data_.data(), rows_, cols_}; }
    T* row(std::int64_t r) { return data_.data() + r * cols_; }
    const T* row(std::int64_t r) const { return data_.data() + r * cols_; }
    T& operator()(std::int64_t r, std::int64_t c) { return data_[static_cast<std::size_t>(r * cols_ + c)]; }
    const T& operator()(std::int64_t r, std::int64_t c) const { return data_[static_cast<std::size_t>(r * cols_ + c)]; }
    T* data() { return data_.data(); }
    const T* data() const { return data_.data(); }
    std::int64_t rows() const { return rows_; }
    std::int64_t cols() const { return cols_; }
    // Grows the buffer when needed; never shrinks capacity (reused as a workspace).
    void resize(std::int64_t rows, std::int64_t cols) {
        rows_ = rows;
        cols_ = cols;
        data_.resize(static_cast<std::size_t>(rows * cols));
    }

   private:
    std::int64_t rows_ = 0;
    std::int64_t cols_ = 0;
    std::vector<T> data_;
};

inline std::string shape_string(std::int64_t rows, std::int64_t cols) {
    return "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
}

// Throws shape_error naming the tensor when `view` is missing or not (rows, cols).
template <class T>
void require_shape(std::string_view owner, std::string_view tensor, matrix_view<T> view, std::int64_t rows,
                   std::int64_t cols) {
    if (view.data == nullptr && rows * cols > 0) {
        throw shape_error(std::string(owner) + ": tensor '" + std::string(tensor) + "' is missing; expected shape " +
                          shape_string(rows, cols));
    }
    if (view.rows != rows || view.cols != cols) {
        throw shape_error(std::string(owner) + ": tensor '" + std::string(tensor) + "' has shape " +
                          shape_string(view.rows, view.cols) + ", expected " + shape_string(rows, cols));
    }
}

}  // namespace moe
