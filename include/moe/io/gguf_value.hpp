// moe/io/gguf_value.hpp — GGUF metadata values: their types, and a validated value as a view of its bytes.
//
// A value is not decoded when the file is opened: the parser checks that it lies inside the file and records where
// (a 150 000-entry token list costs no allocation until someone asks for it). gguf_view's typed accessors decode
// on demand. All numbers in a GGUF file are little-endian (big-endian files are refused at open).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace moe::io {

// The type tags of gguf.h's enum gguf_type (GGUF_TYPE_UINT8 = 0 … GGUF_TYPE_FLOAT64 = 12).
enum class gguf_value_type : std::uint32_t {
    uint8 = 0,
    int8,
    uint16,
    int16,
    uint32,
    int32,
    float32,
    boolean,
    string,
    array,
    uint64,
    int64,
    float64
};

inline constexpr std::uint32_t gguf_value_type_count = 13;

constexpr std::string_view name_of(gguf_value_type type) {
    switch (type) {
        case gguf_value_type::uint8: return "uint8";
        case gguf_value_type::int8: return "int8";
        case gguf_value_type::uint16: return "uint16";
        case gguf_value_type::int16: return "int16";
        case gguf_value_type::uint32: return "uint32";
        case gguf_value_type::int32: return "int32";
        case gguf_value_type::float32: return "float32";
        case gguf_value_type::boolean: return "bool";
        case gguf_value_type::string: return "string";
        case gguf_value_type::array: return "array";
        case gguf_value_type::uint64: return "uint64";
        case gguf_value_type::int64: return "int64";
        case gguf_value_type::float64: return "float64";
    }
    return "?";
}

// Bytes of one value of a fixed-size type; 0 for string and array (length-prefixed).
constexpr std::size_t fixed_size_of(gguf_value_type type) {
    switch (type) {
        case gguf_value_type::uint8:
        case gguf_value_type::int8:
        case gguf_value_type::boolean: return 1;
        case gguf_value_type::uint16:
        case gguf_value_type::int16: return 2;
        case gguf_value_type::uint32:
        case gguf_value_type::int32:
        case gguf_value_type::float32: return 4;
        case gguf_value_type::uint64:
        case gguf_value_type::int64:
        case gguf_value_type::float64: return 8;
        case gguf_value_type::string:
        case gguf_value_type::array: return 0;
    }
    return 0;
}

constexpr bool is_integer(gguf_value_type type) {
    switch (type) {
        case gguf_value_type::uint8:
        case gguf_value_type::int8:
        case gguf_value_type::uint16:
        case gguf_value_type::int16:
        case gguf_value_type::uint32:
        case gguf_value_type::int32:
        case gguf_value_type::uint64:
        case gguf_value_type::int64: return true;
        default: return false;
    }
}

constexpr bool is_floating(gguf_value_type type) {
    return type == gguf_value_type::float32 || type == gguf_value_type::float64;
}

// One metadata value, validated: `bytes` lies inside the file and holds exactly the encoded value.
struct gguf_value {
    gguf_value_type type = gguf_value_type::uint8;
    gguf_value_type element_type = gguf_value_type::uint8;  // arrays: the type of every element
    std::uint64_t count = 1;                                // arrays: the number of elements; otherwise 1
    std::span<const std::byte> bytes;  // scalars: the value; strings: the text (no length); arrays: the elements
};

// "a string", "an int32", "an array of uint32" — for error messages.
inline std::string describe(const gguf_value& value) {
    const auto with_article = [](std::string_view name) {
        // "an int8", "an array", but "a uint8" (said "you-int").
        const bool vowel = !name.empty() && std::string_view("aeio").find(name[0]) != std::string_view::npos;
        return std::string(vowel ? "an " : "a ").append(name);
    };
    if (value.type != gguf_value_type::array) return with_article(name_of(value.type));
    return "an array of " + std::string(name_of(value.element_type));
}

namespace detail {

// Little-endian loads, whatever the host's byte order.
template <class U>
U load_le(const std::byte* p) {
    U value = 0;
    for (std::size_t i = sizeof(U); i-- > 0;) value = static_cast<U>((value << 8) | std::to_integer<U>(p[i]));
    return value;
}

// The integer of type `type` at `p`, or nullopt for a uint64 above INT64_MAX. `type` must be an integer type.
inline std::optional<std::int64_t> gguf_integer_at(gguf_value_type type, const std::byte* p) {
    switch (type) {
        case gguf_value_type::uint8: return load_le<std::uint8_t>(p);
        case gguf_value_type::int8: return static_cast<std::int8_t>(load_le<std::uint8_t>(p));
        case gguf_value_type::uint16: return load_le<std::uint16_t>(p);
        case gguf_value_type::int16: return static_cast<std::int16_t>(load_le<std::uint16_t>(p));
        case gguf_value_type::uint32: return load_le<std::uint32_t>(p);
        case gguf_value_type::int32: return static_cast<std::int32_t>(load_le<std::uint32_t>(p));
        case gguf_value_type::int64: return static_cast<std::int64_t>(load_le<std::uint64_t>(p));
        case gguf_value_type::uint64: {
            const auto value = load_le<std::uint64_t>(p);
            if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
            return static_cast<std::int64_t>(value);
        }
        default: return std::nullopt;
    }
}

// The unsigned 64-bit value of a uint64 (for messages about values above INT64_MAX).
inline std::uint64_t gguf_uint64_at(const std::byte* p) { return load_le<std::uint64_t>(p); }

// The number of type `type` at `p` as a double, or nullopt when it is an integer a double cannot hold exactly
// (above 2^53 in magnitude and not a multiple of the spacing there). `type` must be a number type.
inline std::optional<double> gguf_number_at(gguf_value_type type, const std::byte* p) {
    if (type == gguf_value_type::float32) return std::bit_cast<float>(load_le<std::uint32_t>(p));
    if (type == gguf_value_type::float64) return std::bit_cast<double>(load_le<std::uint64_t>(p));
    if (type == gguf_value_type::uint64) {
        const std::uint64_t value = load_le<std::uint64_t>(p);
        const auto as_double = static_cast<double>(value);
        // 2^64 itself is not a uint64: test before converting back (out-of-range conversion is undefined).
        if (as_double >= 18446744073709551616.0 || static_cast<std::uint64_t>(as_double) != value) return std::nullopt;
        return as_double;
    }
    const auto integer = gguf_integer_at(type, p);
    if (!integer) return std::nullopt;
    const auto as_double = static_cast<double>(*integer);
    if (as_double >= 9223372036854775808.0 || static_cast<std::int64_t>(as_double) != *integer) return std::nullopt;
    return as_double;
}

}  // namespace detail
}  // namespace moe::io
