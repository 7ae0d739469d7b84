// moe/cpu/formats.hpp — the list of weight formats the CPU backend runs: one #include line per format.
//
// Code templated on a storage type reaches its format's kernels through kernels_for<Storage>.
#pragma once

#include <utility>

#include "moe/config/precision.hpp"
#include "moe/cpu/formats/format_kernels.hpp"
// ---- the formats' CPU kernels, one line each ----
#include "moe/cpu/formats/bf16_compute.hpp"
#include "moe/cpu/formats/fp32_activations.hpp"  // fp32, bf16, fp16
#include "moe/cpu/formats/q8_0.hpp"
#include "moe/cpu/formats/q4_0.hpp"  // q4_0, q5_0
#include "moe/cpu/formats/k_quants.hpp"  // q4_k, q5_k, q6_k
#include "moe/cpu/formats/fp8_e4m3.hpp"
#include "moe/cpu/formats/gguf_mixed.hpp"  // per matrix: one of q8_0, q4_0, q5_0, q4_k, q5_k, q6_k
// -------------------------------------------------

namespace moe::cpu {

// The CPU kernels of the format whose matrices are stored as Storage.
template <class Storage>
using kernels_for = format_kernels<format_of_storage<Storage>>;

namespace detail {
// A format whose traits say cpu = true has complete kernels (a missing one fails format_kernels' static_assert).
template <weight_format Format>
constexpr bool cpu_kernels_complete() {
    if constexpr (weight_format_traits<Format>::cpu) return cpu_format_kernels<format_kernels<Format>>;
    else return true;
}
template <int... I>
constexpr bool every_cpu_format_has_kernels(std::integer_sequence<int, I...>) {
    return (cpu_kernels_complete<static_cast<weight_format>(I)>() && ...);
}
}  // namespace detail

static_assert(detail::every_cpu_format_has_kernels(std::make_integer_sequence<int, weight_format_count>{}),
              "moe::cpu: a format with cpu = true in its traits lacks a member of format_kernels (see "
              "cpu/formats/format_kernels.hpp)");

}  // namespace moe::cpu
