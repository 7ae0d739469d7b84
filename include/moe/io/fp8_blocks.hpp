// moe/io/fp8_blocks.hpp — an fp8 checkpoint matrix (DeepSeek-V3/R1: F8_E4M3 weights + F32 128 × 128 block scales)
// read as any weight storage.
//
// DeepSeek's release stores each quantized matrix W (rows, cols) as `<name>` F8_E4M3 (e4m3fn codes) and
// `<name>_scale_inv` F32 of shape (⌈rows/128⌉, ⌈cols/128⌉); weight (i, j) = e4m3(W[i, j]) · scale[i/128, j/128]
// (DeepSeek-V3's weight_dequant, in its inference kernels, and transformers' finegrained_fp8 — "scale_inv" is what
// multiplies). load_fp8_matrix<T> reads such a pair:
//   T = fp8_e4m3_block (weight_format::fp8_e4m3): the codes copied and each row's block given its block scale —
//     nothing is rounded (cols must then be a multiple of 128, as the format's configs require);
//   any other storage: dequantized to fp32 (code · scale, one rounding, as weight_dequant), then stored as T —
//     rounded to bf16/fp16 or quantized with the format's quantize_row (q8_0, …), as from a float checkpoint.
// Checked, each an io::checkpoint_error naming the file and the tensor: the weight is F8_E4M3 (F8_E5M2 is not
// supported) and 2-D (fused 3-D expert tensors are refused: DeepSeek's files keep one key per expert); the scale
// tensor is present, F32, exactly (⌈rows/128⌉, ⌈cols/128⌉), and every scale finite and ≥ 0 (DeepSeek's scales
// are amax / 448 of a block: a negative or non-finite one is a damaged file); no weight is a NaN code (0x7F/0xFF).
// Every byte is read once to build the result, so these scans cost nothing extra.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "moe/io/checkpoint_error.hpp"
#include "moe/io/dtype.hpp"
#include "moe/io/tensor_info.hpp"
#include "moe/io/tensor_read.hpp"
#include "moe/precision/formats.hpp"
#include "moe/precision/fp8_e4m3.hpp"

namespace moe::io {

// The block of the checkpoint's scales along both dimensions (quantization_config.weight_block_size).
inline constexpr std::int64_t fp8_scale_block = 128;

namespace detail {

inline std::string fp8_scale_name(const tensor_ref& weight) { return weight.name() + "_scale_inv"; }

// The scales of `weight` (rows, cols): (⌈rows/128⌉, ⌈cols/128⌉) fp32, checked (see the header comment).
inline std::vector<float> read_fp8_scales(const tensor_ref& weight, const std::optional<tensor_ref>& scale,
                                          std::int64_t rows, std::int64_t cols) {
    if (!scale) {
        throw ref_error(weight, "is F8_E4M3 but its block scales '" + moe::excerpt(fp8_scale_name(weight)) +
                                    "' are not in the checkpoint (fp8 weights need their F32 _scale_inv tensor)");
    }
    const std::int64_t scale_rows = (rows + fp8_scale_block - 1) / fp8_scale_block;
    const std::int64_t scale_cols = (cols + fp8_scale_block - 1) / fp8_scale_block;
    if (scale->dtype() != dtype::f32) {
        throw ref_error(*scale, "is " + std::string(name_of(scale->dtype())) + ", expected F32 block scales of '" +
                                    moe::excerpt(weight.name()) + "'");
    }
    const auto& shape = scale->shape();
    if (shape.size() != 2 || shape[0] != scale_rows || shape[1] != scale_cols) {
        const std::int64_t expected[] = {scale_rows, scale_cols};
        throw ref_error(*scale, "has shape " + shape_string(shape) + ", expected " + shape_string(expected) +
                                    ": one scale per 128 × 128 block of '" + moe::excerpt(weight.name()) + "' " +
                                    shape_string(weight.shape()));
    }
    auto scales = allocate_for<std::vector<float>>(*scale, static_cast<std::size_t>(scale_rows * scale_cols));
    copy_into<float>(*scale, std::span<float>(scales));
    for (std::size_t i = 0; i < scales.size(); ++i) {
        if (!std::isfinite(scales[i]) || scales[i] < 0.0f) {
            const auto r = static_cast<std::int64_t>(i) / scale_cols, c = static_cast<std::int64_t>(i) % scale_cols;
            throw ref_error(*scale, "scale (" + std::to_string(r) + ", " + std::to_string(c) + ") is " +
                                        std::to_string(scales[i]) +
                                        ", expected a finite scale ≥ 0 (block amax / 448) — the checkpoint is damaged");
        }
    }
    return scales;
}

// Throws naming the first weight that is a NaN code (0x7F / 0xFF): e4m3fn has no infinities, NaN is the only
// non-finite value.
inline void require_no_fp8_nan(const tensor_ref& weight, std::int64_t cols) {
    const auto* codes = reinterpret_cast<const std::uint8_t*>(weight.bytes.data());
    const auto count = static_cast<std::int64_t>(weight.bytes.size());
    std::int64_t bad = 0, first = -1;
    for (std::int64_t i = 0; i < count; ++i) {
        const bool nan = (codes[i] & 0x7Fu) == 0x7Fu;
        bad += nan;
        if (nan && first < 0) first = i;
    }
    if (bad == 0) return;
    throw ref_error(weight, std::to_string(bad) + " of " + std::to_string(count) + " values are NaN (first at row " +
                                std::to_string(first / cols) + " column " + std::to_string(first % cols) +
                                ") — the checkpoint is damaged");
}

// Runs fn(first_row, last_row) over [0, rows) on all cores for large tensors (the result does not depend on the
// split), as load_tensor_quantized does.
template <class Fn>
void for_row_ranges(std::int64_t rows, std::int64_t numel, const Fn& fn) {
    const std::int64_t workers =
        numel < (std::int64_t{1} << 20) ? 1 : std::clamp<std::int64_t>(std::thread::hardware_concurrency(), 1, 64);
    std::vector<std::thread> threads;
    for (std::int64_t w = 1; w < workers; ++w) threads.emplace_back(fn, rows * w / workers, rows * (w + 1) / workers);
    fn(0, rows / workers);
    for (auto& thread : threads) thread.join();
}

}  // namespace detail

// An F8_E4M3 tensor of its own shape (2-D) with its block scales `scale` (the checkpoint's `<name>_scale_inv`, or
// nullopt when it has none) as T (see the header comment).
template <class T>
    requires is_weight_type_v<T> || is_weight_storage_v<T>
loaded_tensor<T> load_fp8_tensor(const tensor_ref& weight, const std::optional<tensor_ref>& scale) {
    if (weight.dtype() != dtype::f8_e4m3) {
        throw detail::ref_error(weight, "is " + std::string(name_of(weight.dtype())) +
                                            ", which is not supported: fp8 weights are read as F8_E4M3 (e4m3fn) with "
                                            "F32 128 × 128 block scales, as DeepSeek-V3/R1 ship them");
    }
    const auto& shape = weight.shape();
    if (shape.size() != 2) {
        throw detail::ref_error(weight, "has shape " + shape_string(shape) +
                                            ": F8_E4M3 tensors are read as 2-D matrices with 128 × 128 block scales "
                                            "(fused 3-D fp8 expert tensors are not supported)");
    }
    const std::int64_t rows = shape[0], cols = shape[1];
    const auto scales = detail::read_fp8_scales(weight, scale, rows, cols);
    detail::require_no_fp8_nan(weight, cols);
    const std::int64_t scale_cols = (cols + fp8_scale_block - 1) / fp8_scale_block;
    const auto* codes = reinterpret_cast<const std::uint8_t*>(weight.bytes.data());
    using owned = typename loaded_tensor<T>::owned_values;

    if constexpr (std::is_same_v<T, fp8_e4m3_block>) {
        // Code for code: row r's block b gets the scale of its 128 × 128 block.
        if (cols % fp8_block_size != 0) {
            throw detail::ref_error(weight, "has shape " + shape_string(shape) +
                                                ": fp8_e4m3 needs a last dimension that is a multiple of 128");
        }
        const std::int64_t blocks_per_row = cols / fp8_block_size;
        auto blocks = detail::allocate_for<owned>(weight, static_cast<std::size_t>(rows * blocks_per_row));
        detail::for_row_ranges(rows, weight.numel(), [&](std::int64_t first, std::int64_t last) {
            for (std::int64_t r = first; r < last; ++r)
                for (std::int64_t b = 0; b < blocks_per_row; ++b) {
                    fp8_e4m3_block& out = blocks[static_cast<std::size_t>(r * blocks_per_row + b)];
                    out.scale = scales[static_cast<std::size_t>(r / fp8_scale_block * scale_cols + b)];
                    std::copy_n(codes + r * cols + b * fp8_block_size, fp8_block_size, out.q);
                }
        });
        return {shape, std::move(blocks), weight.name(), std::string(weight.file)};
    } else {
        // Dequantized row by row (code · scale in fp32), then stored as T.
        constexpr std::int64_t per_element = weights_per_element<T>;
        if (cols % per_element != 0) {
            throw detail::ref_error(weight, "has shape " + shape_string(shape) + ": " +
                                                std::string(storage_traits<T>::name) +
                                                " needs a last dimension that is a multiple of " +
                                                std::to_string(per_element));
        }
        auto values = detail::allocate_for<owned>(weight, static_cast<std::size_t>(rows * (cols / per_element)));
        detail::for_row_ranges(rows, weight.numel(), [&](std::int64_t first, std::int64_t last) {
            std::vector<float> row(static_cast<std::size_t>(cols));  // (cols) one row dequantized
            for (std::int64_t r = first; r < last; ++r) {
                const float* row_scales = scales.data() + r / fp8_scale_block * scale_cols;
                for (std::int64_t c = 0; c < cols; ++c)
                    row[static_cast<std::size_t>(c)] = fp8_e4m3_values[codes[r * cols + c]] * row_scales[c / fp8_scale_block];
                T* out = values.data() + r * (cols / per_element);
                if constexpr (std::is_same_v<T, float>) std::copy(row.begin(), row.end(), out);
                else if constexpr (is_weight_type_v<T>) std::transform(row.begin(), row.end(), out, [](float v) { return T(v); });
                else storage_traits<T>::quantize_row(row.data(), cols, out);
            }
        });
        return {shape, std::move(values), weight.name(), std::string(weight.file)};
    }
}

// The same, after checking the weight is (rows, cols).
template <class T>
    requires is_weight_type_v<T> || is_weight_storage_v<T>
loaded_tensor<T> load_fp8_matrix(const tensor_ref& weight, const std::optional<tensor_ref>& scale, std::int64_t rows,
                                 std::int64_t cols) {
    if (weight.shape().size() == 2) expect_matrix_shape(weight, rows, cols);
    return load_fp8_tensor<T>(weight, scale);
}

}  // namespace moe::io
