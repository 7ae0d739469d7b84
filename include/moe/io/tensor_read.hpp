// moe/io/tensor_read.hpp — typed access to checkpoint tensors: in place when possible, converted otherwise.
//
// A tensor is used IN PLACE (no copy, the pointer points into the file mapping) when its file dtype is exactly T
// and its address is aligned for T. Otherwise it is converted into owned memory: F32/F16/BF16 (and F64) to
// float/bfloat16/float16 with the library's round-to-nearest-even conversions. safetensors does not promise
// alignment — the writer pads the header to 8 bytes, but hand-made files may not — so a misaligned tensor is
// copied rather than read through a misaligned pointer (undefined behaviour).
//
// Matrices are row-major; a 1-D tensor of n elements reads as a (1, n) matrix, a scalar as (1, 1).
// T = the storage of a format with no file dtype (q8_0_block) quantizes any floating tensor along its last
// dimension (a multiple of the format's block width) into owned memory, with the format's quantize_row.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "moe/io/checkpoint_error.hpp"
#include "moe/io/dtype.hpp"
#include "moe/io/mapped_file.hpp"
#include "moe/io/tensor_info.hpp"
#include "moe/precision/formats.hpp"
#include "moe/precision/half_types.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::io {

static_assert(std::endian::native == std::endian::little,
              "moe::io reads safetensors (little-endian) in place and needs a little-endian host");

namespace detail {

inline checkpoint_error ref_error(const tensor_ref& ref, std::string_view problem) {
    return tensor_error(ref.file, ref.name(), problem);
}

// (rows, cols) of a tensor read as a matrix: (1, n) for 1-D, (1, 1) for a scalar; throws for 3-D and up.
inline std::pair<std::int64_t, std::int64_t> matrix_shape(const tensor_ref& ref) {
    const auto& shape = ref.shape();
    if (shape.empty()) return {1, 1};
    if (shape.size() == 1) return {1, shape[0]};
    if (shape.size() == 2) return {shape[0], shape[1]};
    throw ref_error(ref, "has shape " + shape_string(shape) + ", expected a 1-D or 2-D tensor");
}

// A container of `count` elements for a converted copy of `ref`. The count comes from the file; the file holds the
// bytes for it, but a conversion can need more memory than is left: that is an error naming the tensor, not a
// bare std::bad_alloc.
template <class Container>
Container allocate_for(const tensor_ref& ref, std::size_t count) {
    try {
        return Container(count);
    } catch (const std::bad_alloc&) {
    } catch (const std::length_error&) {
    }
    throw ref_error(ref, "cannot allocate " + std::to_string(count) + " elements of " +
                             std::to_string(sizeof(typename Container::value_type)) + " bytes to hold it converted");
}

template <class T>
T load_unaligned(const std::byte* source) {
    T value;
    std::memcpy(&value, source, sizeof(T));
    return value;
}

// One stored element → float (every source dtype converts to float exactly, except F64 which rounds).
inline float element_to_float(dtype type, const std::byte* source) {
    switch (type) {
        case dtype::f32: return load_unaligned<float>(source);
        case dtype::f16: return float16::to_float(load_unaligned<std::uint16_t>(source));
        case dtype::bf16: return bfloat16::to_float(load_unaligned<std::uint16_t>(source));
        case dtype::f64: return static_cast<float>(load_unaligned<double>(source));
        case dtype::f8_e4m3: return fp8_e4m3_values[load_unaligned<std::uint8_t>(source)];  // without its block scale
        default: return 0.0f;  // unreachable: callers accept floating dtypes only
    }
}

// count stored elements from `source` → out: (count) floats; BF16, the usual checkpoint dtype, without a
// per-element dtype switch.
inline void elements_to_float(dtype type, const std::byte* source, std::int64_t count, float* out) {
    if (type == dtype::bf16) {
        for (std::int64_t c = 0; c < count; ++c) out[c] = bfloat16::to_float(load_unaligned<std::uint16_t>(source + 2 * c));
        return;
    }
    const std::size_t stride = size_of(type);
    for (std::int64_t c = 0; c < count; ++c) out[c] = element_to_float(type, source + c * stride);
}

}  // namespace detail

// True when load_tensor<T>(ref) would return a pointer into the file instead of a copy.
template <class T>
    requires is_weight_type_v<T>
bool can_view_in_place(const tensor_ref& ref) {
    return ref.dtype() == dtype_of<T>() &&
           reinterpret_cast<std::uintptr_t>(ref.bytes.data()) % alignof(T) == 0;
}

// Converts every element of a floating-point tensor into `out` (numel elements, any dtype combination:
// F32/F16/BF16/F64 → float/bfloat16/float16). Same dtype is a plain copy, bit for bit (NaN payloads kept).
// F64 → bfloat16/float16 goes through float, so it can round twice.
template <class T>
    requires is_weight_type_v<T>
void copy_into(const tensor_ref& ref, std::span<T> out /* (numel) */) {
    if (!is_floating(ref.dtype())) {
        throw detail::ref_error(ref, "is " + std::string(name_of(ref.dtype())) +
                                         ", expected a floating-point tensor (F32, F16, BF16 or F64)");
    }
    const auto count = static_cast<std::size_t>(ref.numel());
    if (out.size() != count) {
        throw detail::ref_error(ref, "has " + std::to_string(count) + " elements, the destination holds " +
                                         std::to_string(out.size()));
    }
    if (count == 0) return;
    if (ref.dtype() == dtype_of<T>()) {
        std::memcpy(out.data(), ref.bytes.data(), count * sizeof(T));
        return;
    }
    const std::size_t stride = size_of(ref.dtype());
    const std::byte* source = ref.bytes.data();
    for (std::size_t i = 0; i < count; ++i) {
        const float value = detail::element_to_float(ref.dtype(), source + i * stride);
        if constexpr (std::is_same_v<T, float>) {
            out[i] = value;
        } else {
            out[i] = T(value);
        }
    }
}

// A tensor of T, either borrowed from the file mapping (in_place()) or owned after conversion.
// Copyable and movable; a borrowed one is valid only while its file is open. The shape counts weights; for
// block storage (q8_0_block) the data holds numel / block width elements.
template <class T>
class loaded_tensor {
   public:
    static constexpr std::int64_t per_element = weights_per_element<T>;

    loaded_tensor() = default;
    // Borrowed: `data` points into a file mapping holding numel elements of shape `shape`. `layout`: the rows'
    // block type for gguf_mixed storage (mixed_block), nothing for every other type.
    loaded_tensor(std::vector<std::int64_t> shape, const T* data, std::string name, std::string file,
                  matrix_layout_t<T> layout = {})
        : shape_(std::move(shape)), borrowed_(data), in_place_(true), name_(std::move(name)), file_(std::move(file)),
          layout_(layout) {}
    using owned_values = std::vector<T, huge_page_allocator<T>>;
    // Owned: `values` holds numel elements (numel / 32 blocks for q8_0_block) of shape `shape`.
    loaded_tensor(std::vector<std::int64_t> shape, owned_values values, std::string name, std::string file)
        : shape_(std::move(shape)), owned_(std::move(values)), name_(std::move(name)), file_(std::move(file)) {}

    const std::vector<std::int64_t>& shape() const { return shape_; }
    std::size_t rank() const { return shape_.size(); }
    std::int64_t numel() const {
        std::int64_t n = 1;
        for (std::int64_t d : shape_) n *= d;
        return n;
    }
    // Pointer/span/matrix accessors are lvalue-only: on a temporary that owns its data they would dangle
    // (e.g. `for (float v : load_tensor<float>(ref).span())`), so that does not compile.
    const T* data() const& { return in_place_ ? borrowed_ : owned_.data(); }
    const T* data() const&& = delete;
    std::span<const T> span() const& {
        const std::int64_t cols = shape_.empty() ? 1 : shape_.back();
        return {data(), static_cast<std::size_t>(cols == 0 ? 0 : numel() / cols * layout_.row_elements(cols))};
    }
    std::span<const T> span() const&& = delete;
    bool in_place() const { return in_place_; }
    const std::string& name() const { return name_; }

    // The whole tensor as a matrix: 2-D as is, 1-D as (1, n), a scalar as (1, 1).
    matrix_view<const T> matrix() const&& = delete;
    matrix_view<const T> matrix() const& {
        if (shape_.size() > 2) throw error("has shape " + shape_string(shape_) + ", expected a 1-D or 2-D tensor");
        const std::int64_t rows = shape_.size() == 2 ? shape_[0] : 1;
        const std::int64_t cols = shape_.empty() ? 1 : shape_.back();
        return {data(), rows, cols, layout_};
    }

    // Slice `index` of a 3-D tensor (N, R, C) as an (R, C) matrix — e.g. expert e of a fused (E, 2F, D) tensor.
    matrix_view<const T> matrix(std::int64_t index) const&& = delete;
    matrix_view<const T> matrix(std::int64_t index) const& {
        if (shape_.size() != 3) throw error("has shape " + shape_string(shape_) + ", expected a 3-D tensor");
        if (index < 0 || index >= shape_[0]) {
            throw error("slice " + std::to_string(index) + " is out of range for shape " + shape_string(shape_));
        }
        return {data() + index * shape_[1] * layout_.row_elements(shape_[2]), shape_[1], shape_[2], layout_};
    }

   private:
    checkpoint_error error(std::string_view problem) const { return detail::tensor_error(file_, name_, problem); }

    std::vector<std::int64_t> shape_;
    const T* borrowed_ = nullptr;
    owned_values owned_;
    bool in_place_ = false;
    std::string name_;
    std::string file_;
    [[no_unique_address]] matrix_layout_t<T> layout_{};
};

// Any floating-point tensor quantized along its last dimension into T, the storage of a block-quantized format
// (q8_0_block): storage_traits<T>::quantize_row per row, exactly as the format's quantizer (for q8_0 what
// gguf-py/llama-quantize do). Throws naming the tensor when it is not floating or its last dimension is not a
// multiple of the block width.
template <class T>
    requires is_weight_storage_v<T>
loaded_tensor<T> load_tensor_quantized(const tensor_ref& ref) {
    using traits = storage_traits<T>;
    if constexpr (!has_fixed_layout_v<T>) {
        // gguf_mixed: a matrix keeps its GGUF file's block type; float tensors have none to keep.
        throw detail::ref_error(ref, "is " + std::string(name_of(ref.dtype())) + ": a " + std::string(traits::name) +
                                         " model reads only a GGUF file's Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K matrices "
                                         "(use a fixed format such as q4_k or q8_0 for float checkpoints)");
    }
    if (!is_floating(ref.dtype())) {
        throw detail::ref_error(ref, "is " + std::string(name_of(ref.dtype())) +
                                         ", expected a floating-point tensor (F32, F16, BF16 or F64) to quantize");
    }
    const auto& shape = ref.shape();
    const std::int64_t cols = shape.empty() ? 1 : shape.back();
    if (cols % traits::block_width != 0) {
        throw detail::ref_error(ref, "has shape " + shape_string(shape) + ": " + std::string(traits::name) +
                                         " needs a last dimension that is a multiple of " +
                                         std::to_string(traits::block_width));
    }
    const std::int64_t rows = cols == 0 ? 0 : ref.numel() / cols;
    auto blocks = detail::allocate_for<typename loaded_tensor<T>::owned_values>(
        ref, static_cast<std::size_t>(ref.numel() / traits::block_width));
    const std::size_t stride = size_of(ref.dtype());
    // Rows are independent: large tensors are quantized on all cores (the result does not depend on the split).
    auto quantize_rows = [&](std::int64_t first, std::int64_t last) {
        std::vector<float> row(static_cast<std::size_t>(cols));  // (cols) one row widened to fp32
        for (std::int64_t r = first; r < last; ++r) {
            detail::elements_to_float(ref.dtype(), ref.bytes.data() + static_cast<std::size_t>(r * cols) * stride, cols,
                                      row.data());
            traits::quantize_row(row.data(), cols, blocks.data() + r * (cols / traits::block_width));
        }
    };
    const std::int64_t workers = ref.numel() < (std::int64_t{1} << 20)
                                     ? 1
                                     : std::clamp<std::int64_t>(std::thread::hardware_concurrency(), 1, 64);
    std::vector<std::thread> threads;
    for (std::int64_t w = 1; w < workers; ++w)
        threads.emplace_back(quantize_rows, rows * w / workers, rows * (w + 1) / workers);
    quantize_rows(0, rows / workers);
    for (auto& thread : threads) thread.join();
    return {ref.shape(), std::move(blocks), ref.name(), std::string(ref.file)};
}

// Any floating-point tensor as T: in place when can_view_in_place<T>(ref), else converted (see copy_into);
// quantized (load_tensor_quantized) when T has no file dtype of its own (q8_0_block).
template <class T>
    requires is_weight_type_v<T> || is_weight_storage_v<T>
loaded_tensor<T> load_tensor(const tensor_ref& ref) {
    if constexpr (!is_weight_type_v<T>) {
        return load_tensor_quantized<T>(ref);
    } else {
        if (can_view_in_place<T>(ref)) {
            // The mapping is read-only memory with no C++ objects in it; reading it as T is the usual mmap idiom.
            return {ref.shape(), reinterpret_cast<const T*>(ref.bytes.data()), ref.name(), std::string(ref.file)};
        }
        // Converted weights are streamed like mapped ones: on huge pages (huge_page_allocator, mapped_file.hpp).
        auto values = detail::allocate_for<typename loaded_tensor<T>::owned_values>(ref, static_cast<std::size_t>(ref.numel()));
        copy_into<T>(ref, std::span<T>(values));
        return {ref.shape(), std::move(values), ref.name(), std::string(ref.file)};
    }
}

// Throws checkpoint_error naming the tensor, the file, the actual and the expected shape unless they are equal.
inline void expect_shape(const tensor_ref& ref, std::span<const std::int64_t> expected) {
    const auto& actual = ref.shape();
    if (!std::equal(actual.begin(), actual.end(), expected.begin(), expected.end())) {
        throw detail::ref_error(ref, "has shape " + shape_string(actual) + ", expected " + shape_string(expected));
    }
}
inline void expect_shape(const tensor_ref& ref, std::initializer_list<std::int64_t> expected) {
    expect_shape(ref, std::span<const std::int64_t>(expected.begin(), expected.size()));
}

// Same for a matrix: a 1-D tensor of n elements matches (1, n).
inline void expect_matrix_shape(const tensor_ref& ref, std::int64_t rows, std::int64_t cols) {
    const auto& actual = ref.shape();
    const bool matches = (actual.size() == 2 && actual[0] == rows && actual[1] == cols) ||
                         (actual.size() == 1 && rows == 1 && actual[0] == cols);
    if (!matches) {
        const std::int64_t expected[] = {rows, cols};
        throw detail::ref_error(ref, "has shape " + shape_string(actual) + ", expected " + shape_string(expected));
    }
}

// A 1-D or 2-D tensor as a matrix_view straight into the file. Throws when that is impossible (dtype differs from T,
// misaligned, or 3-D and up) — use load_matrix / copy_matrix to accept a conversion.
template <class T>
    requires is_weight_type_v<T>
matrix_view<const T> view_matrix(const tensor_ref& ref) {
    const auto [rows, cols] = detail::matrix_shape(ref);
    if (ref.dtype() != dtype_of<T>()) {
        throw detail::ref_error(ref, "is " + std::string(name_of(ref.dtype())) + ", cannot be viewed in place as " +
                                         std::string(name_of(dtype_of<T>())));
    }
    if (!can_view_in_place<T>(ref)) {
        throw detail::ref_error(ref, "is not aligned to " + std::to_string(alignof(T)) +
                                         " bytes in the file, cannot be viewed in place");
    }
    return {reinterpret_cast<const T*>(ref.bytes.data()), rows, cols};
}

// A 1-D or 2-D floating-point tensor converted (or copied) into an owned host_matrix<T>.
template <class T>
    requires is_weight_type_v<T>
host_matrix<T> copy_matrix(const tensor_ref& ref) {
    const auto [rows, cols] = detail::matrix_shape(ref);
    host_matrix<T> result;
    try {
        result = host_matrix<T>(rows, cols);
    } catch (const std::bad_alloc&) {
        throw detail::ref_error(ref, "cannot allocate a " + shape_string(std::vector<std::int64_t>{rows, cols}) +
                                         " matrix to copy it into");
    }
    copy_into<T>(ref, std::span<T>(result.data(), static_cast<std::size_t>(rows * cols)));
    return result;
}

// Checks the shape is (rows, cols) (or (cols) when rows == 1), then loads in place or converted; use .matrix().
template <class T>
    requires is_weight_type_v<T> || is_weight_storage_v<T>
loaded_tensor<T> load_matrix(const tensor_ref& ref, std::int64_t rows, std::int64_t cols) {
    expect_matrix_shape(ref, rows, cols);
    return load_tensor<T>(ref);
}

// An integer (or BOOL) tensor's elements widened to int64 — e.g. expert ids. U64 values above INT64_MAX throw.
inline std::vector<std::int64_t> read_integers(const tensor_ref& ref) {
    if (is_floating(ref.dtype())) {
        throw detail::ref_error(ref, "is " + std::string(name_of(ref.dtype())) + ", expected an integer tensor");
    }
    const auto count = static_cast<std::size_t>(ref.numel());
    const std::size_t stride = size_of(ref.dtype());
    const std::byte* source = ref.bytes.data();
    auto values = detail::allocate_for<std::vector<std::int64_t>>(ref, count);
    for (std::size_t i = 0; i < count; ++i) {
        const std::byte* at = source + i * stride;
        switch (ref.dtype()) {
            case dtype::i64: values[i] = detail::load_unaligned<std::int64_t>(at); break;
            case dtype::i32: values[i] = detail::load_unaligned<std::int32_t>(at); break;
            case dtype::i16: values[i] = detail::load_unaligned<std::int16_t>(at); break;
            case dtype::i8: values[i] = detail::load_unaligned<std::int8_t>(at); break;
            case dtype::u32: values[i] = detail::load_unaligned<std::uint32_t>(at); break;
            case dtype::u16: values[i] = detail::load_unaligned<std::uint16_t>(at); break;
            case dtype::u8:
            case dtype::boolean: values[i] = detail::load_unaligned<std::uint8_t>(at); break;
            case dtype::u64: {
                const auto value = detail::load_unaligned<std::uint64_t>(at);
                if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                    throw detail::ref_error(ref, "element " + std::to_string(i) + " = " + std::to_string(value) +
                                                     " does not fit in int64");
                }
                values[i] = static_cast<std::int64_t>(value);
                break;
            }
            default: break;  // floating dtypes rejected above
        }
    }
    return values;
}

}  // namespace moe::io
