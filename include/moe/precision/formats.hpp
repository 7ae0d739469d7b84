// moe/precision/formats.hpp — the list of weight formats, and what is derived from it.
//
// One #include line per format below is the whole list: formats are the enumerators 0, 1, 2, … of weight_format
// that have traits (format_traits.hpp), counted here, so runtime dispatch (name_of, bytes_per_weight in
// config/precision.hpp) and the storage-type lookup (storage_traits) need no second list.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "moe/precision/format_traits.hpp"
// ---- the formats, one line each ----
#include "moe/precision/formats/fp32.hpp"
#include "moe/precision/formats/half.hpp"  // bf16, fp16, bf16_compute
#include "moe/precision/formats/q8_0.hpp"
#include "moe/precision/formats/q4_0.hpp"
#include "moe/precision/formats/k_quants.hpp"  // q4_k, q5_k, q6_k
#include "moe/precision/formats/fp8_e4m3.hpp"
#include "moe/precision/formats/gguf_mixed.hpp"  // per-matrix block types of a GGUF file (Q4_K_M, …)
#include "moe/precision/formats/q5_0.hpp"
// ------------------------------------

namespace moe {

namespace detail {

template <weight_format Format>
concept has_format_traits = requires { weight_format_traits<Format>::name; };

template <int I>
constexpr int count_weight_formats() {
    if constexpr (has_format_traits<static_cast<weight_format>(I)>) return count_weight_formats<I + 1>();
    else return I;
}

}  // namespace detail

// Formats with traits: the enumerators 0 … weight_format_count − 1.
inline constexpr int weight_format_count = detail::count_weight_formats<0>();
static_assert(!detail::has_format_traits<static_cast<weight_format>(weight_format_count + 1)>,
              "weight_format: an enumerator before the last one has no traits — include its precision/formats/ header "
              "in precision/formats.hpp");

namespace detail {

template <class Result, class Fn, int... I>
constexpr Result with_format_traits(weight_format format, Fn& fn, Result result, std::integer_sequence<int, I...>) {
    (void)((static_cast<int>(format) == I ? (result = fn(weight_format_traits<static_cast<weight_format>(I)>{}), true)
                                          : false) ||
           ...);
    return result;
}

template <class Storage, int... I>
constexpr int format_index_of(std::integer_sequence<int, I...>) {
    int found = -1;
    (void)((std::is_same_v<Storage, typename weight_format_traits<static_cast<weight_format>(I)>::storage>
                ? (found = I, true)
                : false) ||
           ...);
    return found;
}

template <int... I>
constexpr bool every_format_traits_complete(std::integer_sequence<int, I...>) {
    return (weight_format_traits_type<weight_format_traits<static_cast<weight_format>(I)>> && ...);
}

template <int... I>
constexpr bool storage_types_distinct(std::integer_sequence<int, I...> formats) {
    return ((format_index_of<typename weight_format_traits<static_cast<weight_format>(I)>::storage>(formats) == I) && ...);
}

}  // namespace detail

static_assert(detail::every_format_traits_complete(std::make_integer_sequence<int, weight_format_count>{}),
              "weight_format_traits: a listed format lacks a member (see the list in precision/format_traits.hpp)");
static_assert(detail::storage_types_distinct(std::make_integer_sequence<int, weight_format_count>{}),
              "weight_format_traits: two formats share a storage type — give each its own (as bfloat16_compute)");

// fn(weight_format_traits<format>{}) for a format known only at run time; `otherwise` for a value that is not a
// listed format. fn must return a Result for every format's traits.
template <class Result, class Fn>
constexpr Result with_format_traits(weight_format format, Fn fn, Result otherwise) {
    return detail::with_format_traits(format, fn, otherwise, std::make_integer_sequence<int, weight_format_count>{});
}

// True when some format stores its matrices as Storage.
template <class Storage>
inline constexpr bool is_weight_storage_v =
    detail::format_index_of<Storage>(std::make_integer_sequence<int, weight_format_count>{}) >= 0;

// The format whose matrices are stored as Storage: one, since every format has its own storage type (that is why
// bf16_compute has bfloat16_compute).
template <class Storage>
    requires is_weight_storage_v<Storage>
inline constexpr weight_format format_of_storage = static_cast<weight_format>(
    detail::format_index_of<Storage>(std::make_integer_sequence<int, weight_format_count>{}));

// The traits of the format whose matrices are stored as Storage: code templated on a storage type (linear<Storage>,
// fill_uniform<T>, load_tensor<T>) reaches its format through it.
template <class Storage>
    requires is_weight_storage_v<Storage>
using storage_traits = weight_format_traits<format_of_storage<Storage>>;

}  // namespace moe
