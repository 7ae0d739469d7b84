// moe/cpu/formats/format_kernels.hpp — what the CPU backend needs from a weight format: its product kernels.
//
// format_kernels<F> is specialised once per format in cpu/formats/<format>.hpp (listed in cpu/formats.hpp). It is
// the glue between a format's register tiles (kernels/*_tiles.hpp) and the format-independent code above it
// (products.hpp, swiglu_kernels.hpp, linear.hpp): how tokens are packed for the prefill GEMM tiles, how they are
// prepared for the decode dot-product tiles, and how a block of features is written already packed.
#pragma once

#include <concepts>
#include <cstdint>

#include "moe/config/precision.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

namespace detail {
template <weight_format>
inline constexpr bool has_cpu_kernels = false;  // dependent, so the primary's static_assert fires only when used
}  // namespace detail

// Never instantiated for a listed format: a format whose traits say cpu = true brings its specialisation.
template <weight_format Format>
struct format_kernels {
    static_assert(detail::has_cpu_kernels<Format>,
                  "moe::cpu: no CPU kernels for this weight_format (the format_kernels<weight_format::…> above) — its "
                  "traits say cpu = false, or cpu/formats/<format>.hpp is missing from cpu/formats.hpp");
};

// What a specialisation provides. K = inner width, n = tokens, np = kernels::padded_tokens(n).
//   storage                      storage_t<F>
//   Prefill (n > small_batch_tokens): GEMM tiles over tokens packed once per product
//     packed_element             the packed matrix's element type
//     packed_rows(K)             rows of the packed matrix (packed_rows(K), np)
//     pack(x, packed)            x: (n, K) fp32 → packed (packed_rows(K), np), padded tokens zero
//     multiply_packed(packed, np, weight, first_row, rows, ct)
//                                ct: (rows, np) = weight[first_row : first_row + rows] · x, transposed
//     feature_alignment          first_row of pack_features is a multiple of it (bf16 pairs: 2, Q8_0 blocks: 32)
//     pack_features(value, n, np, first_row, rows, packed)
//                                writes features [first_row, first_row + rows) of a packed (packed_rows(F), np)
//                                matrix from value(r, t) (r < rows, t < np; 0 past n): SwiGLU's gate/up writes the
//                                down projection's input this way
//   Decode (n ≤ small_batch_tokens): dot-product tiles over tokens prepared once per product
//     prepared_tokens            prepare(x) with x: (n, K) (kept by reference: x must outlive the uses);
//                                tokens() = n; multiply(weight, first_row, rows, out, out_stride) const writes
//                                out(t, r) = Σ_k x(t, k) · weight(first_row + r, k) with row stride out_stride
template <class Kernels>
concept cpu_format_kernels =
    requires(const typename Kernels::packed_element* packed, typename Kernels::packed_element* packed_out,
             matrix_view<const float> x, matrix_view<const typename Kernels::storage> weight,
             typename Kernels::prepared_tokens& tokens, const typename Kernels::prepared_tokens& prepared,
             std::int64_t i, float* out) {
        { Kernels::packed_rows(i) } -> std::same_as<std::int64_t>;
        Kernels::pack(x, packed_out);
        Kernels::multiply_packed(packed, i, weight, i, i, out);
        { Kernels::feature_alignment } -> std::convertible_to<std::int64_t>;
        Kernels::pack_features([](std::int64_t, std::int64_t) { return 0.0f; }, i, i, i, i, packed_out);
        tokens.prepare(x);
        { prepared.tokens() } -> std::same_as<std::int64_t>;
        prepared.multiply(weight, i, i, out, i);
    };

}  // namespace moe::cpu
