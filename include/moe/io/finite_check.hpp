// moe/io/finite_check.hpp — refuses a floating-point tensor holding NaN or infinity, naming it.
//
// The loader runs this on the tensors that are cheap to scan once (docs/checkpoints.md, non-finite weights): every
// 1-D tensor (norms, biases), router gates, the embedding and the LM head. It reads the file's bytes in their own
// dtype and tests the exponent bits (all ones = NaN or ±inf), so it costs one pass over memory and no conversion.
// Expert and attention matrices are not scanned (that would page in the whole checkpoint); a NaN there shows up
// at the first sampled token as decoding::non_finite_logits.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "moe/io/checkpoint_error.hpp"
#include "moe/io/dtype.hpp"
#include "moe/io/tensor_info.hpp"

namespace moe::io {

namespace detail {

// Elements of `bytes` (count of them, `Bits` wide) whose exponent field is all ones; `first` gets the first one.
// 8 bytes at a time (SWAR): per lane, x = (w & exponent) ^ exponent is zero exactly for NaN / ±inf, and a lane's
// top bit of ((x & low) + low) | x is set exactly when x is not zero (no carry crosses a lane).
template <class Bits, Bits exponent>
std::int64_t count_non_finite(const std::byte* bytes, std::int64_t count, std::int64_t& first) {
    constexpr int lanes = 8 / int(sizeof(Bits));
    constexpr std::uint64_t ones = ~std::uint64_t{0} / std::uint64_t(Bits(~Bits{0}));  // 1 in every lane
    constexpr std::uint64_t mask = ones * exponent;
    constexpr std::uint64_t high = ones * (Bits{1} << (8 * sizeof(Bits) - 1));
    constexpr std::uint64_t low = ~high;
    std::int64_t bad = 0, i = 0;
    for (; i + lanes <= count; i += lanes) {
        std::uint64_t w;
        std::memcpy(&w, bytes + i * std::int64_t{sizeof(Bits)}, 8);
        const std::uint64_t x = (w & mask) ^ mask;
        bad += std::popcount(~(((x & low) + low) | x) & high);
    }
    auto non_finite = [&](std::int64_t k) {
        Bits u;
        std::memcpy(&u, bytes + k * std::int64_t{sizeof(Bits)}, sizeof(Bits));
        return (u & exponent) == exponent;
    };
    for (; i < count; ++i) bad += non_finite(i);
    if (bad == 0) return 0;
    for (std::int64_t k = 0; k < count; ++k) {
        if (non_finite(k)) {
            first = k;
            break;
        }
    }
    return bad;
}

}  // namespace detail

// Throws checkpoint_error "<file>: tensor '<name>': 3 of 2048 values are NaN or infinite (first at element 17,
// row 0 column 17)"; integer tensors pass.
inline void require_finite(const tensor_ref& ref) {
    const std::int64_t n = ref.numel();
    std::int64_t first = 0, bad = 0;
    const std::byte* bytes = ref.bytes.data();
    switch (ref.dtype()) {
        case dtype::f64: bad = detail::count_non_finite<std::uint64_t, 0x7FF0000000000000ull>(bytes, n, first); break;
        case dtype::f32: bad = detail::count_non_finite<std::uint32_t, 0x7F800000u>(bytes, n, first); break;
        case dtype::f16: bad = detail::count_non_finite<std::uint16_t, 0x7C00>(bytes, n, first); break;
        case dtype::bf16: bad = detail::count_non_finite<std::uint16_t, 0x7F80>(bytes, n, first); break;
        default: return;
    }
    if (bad == 0) return;
    const auto& shape = ref.shape();
    const std::int64_t cols = shape.empty() ? 1 : shape.back();
    throw detail::tensor_error(ref.file, ref.name(),
                               std::to_string(bad) + " of " + std::to_string(n) +
                                   " values are NaN or infinite (first at element " + std::to_string(first) + ", row " +
                                   std::to_string(first / cols) + " column " + std::to_string(first % cols) +
                                   ") — the checkpoint is damaged or was saved from a diverged model");
}

}  // namespace moe::io
