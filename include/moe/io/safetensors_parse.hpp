// moe/io/safetensors_parse.hpp — parses and validates a safetensors layout from bytes in memory.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON, then the data section. The JSON maps tensor names
// to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data section) plus an optional
// "__metadata__" map of strings. Everything is checked before any tensor byte is touched, so a hostile or truncated
// file produces a checkpoint_error, never an out-of-bounds read (tests/fuzz/ feeds random bytes to this function).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/excerpt.hpp"
#include "moe/io/checkpoint_error.hpp"
#include "moe/io/dtype.hpp"
#include "moe/io/tensor_info.hpp"

namespace moe::io {

// Larger headers are rejected outright (the reference Rust implementation uses the same 100 MB limit).
inline constexpr std::uint64_t max_header_bytes = 100'000'000;
// A JSON parser's message quotes the input near the error; at most this much of it is echoed.
inline constexpr std::size_t json_error_excerpt_bytes = 200;

struct safetensors_layout {
    std::vector<tensor_info> tensors;                         // sorted by name
    std::map<std::string, std::string, std::less<>> metadata;  // the "__metadata__" map, if any
    std::size_t data_offset = 0;                               // 8 + N: where the data section starts in the file
    std::size_t data_size = 0;                                 // bytes from data_offset to the end of the file
};

namespace detail {

// "an array", "a string", … for error messages (never the value itself: it could be huge).
inline std::string json_type(const nlohmann::json& value) {
    const std::string name = value.type_name();
    const bool vowel = !name.empty() && std::string_view("aeiou").find(name[0]) != std::string_view::npos;
    return (vowel ? "an " : "a ") + name;
}

// A non-negative JSON integer, or a checkpoint_error saying what `what` was instead.
inline std::uint64_t json_to_u64(const nlohmann::json& value, std::string_view file, std::string_view tensor,
                                 const std::string& what) {
    if (value.is_number_unsigned()) return value.get<std::uint64_t>();
    if (value.is_number_integer()) {  // nlohmann stores non-negative integers as unsigned, so this one is < 0
        throw tensor_error(file, tensor, what + " is negative (" + std::to_string(value.get<std::int64_t>()) + ")");
    }
    if (value.is_number_float()) throw tensor_error(file, tensor, what + " is not an integer");
    throw tensor_error(file, tensor, what + " is " + json_type(value) + ", expected an integer");
}

inline std::string range_string(std::uint64_t begin, std::uint64_t end) {
    std::string s = "[";  // append, not "[" + std::string: GCC 12's false -Wrestrict (GCC bug 105651)
    s.append(std::to_string(begin)).append(", ").append(std::to_string(end)).append(")");
    return s;
}

inline tensor_info parse_tensor_entry(const std::string& name, const nlohmann::json& entry, std::string_view file,
                                      std::size_t data_size) {
    if (!entry.is_object()) {
        throw tensor_error(file, name,
                           "entry is " + json_type(entry) + ", expected an object with dtype, shape and data_offsets");
    }
    tensor_info info;
    info.name = name;

    const auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end()) throw tensor_error(file, name, "missing 'dtype'");
    if (!dtype_it->is_string()) {
        throw tensor_error(file, name, "'dtype' is " + json_type(*dtype_it) + ", expected a string");
    }
    const auto& dtype_name = dtype_it->get_ref<const std::string&>();
    const auto parsed = parse_dtype(dtype_name);
    if (!parsed) {
        // Cap the echoed name: it comes from the file and could be huge.
        throw tensor_error(file, name,
                           "unknown dtype '" + moe::excerpt(dtype_name, 32) + "' (known: " + known_dtype_names() + ")");
    }
    info.dtype = *parsed;

    const auto shape_it = entry.find("shape");
    if (shape_it == entry.end()) throw tensor_error(file, name, "missing 'shape'");
    if (!shape_it->is_array()) {
        throw tensor_error(file, name, "'shape' is " + json_type(*shape_it) + ", expected an array of integers");
    }
    bool has_zero = false;
    for (std::size_t i = 0; i < shape_it->size(); ++i) {
        const std::uint64_t dim = json_to_u64((*shape_it)[i], file, name, "shape[" + std::to_string(i) + "]");
        if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            throw tensor_error(file, name, "shape[" + std::to_string(i) + "] = " + std::to_string(dim) + " is too large");
        }
        has_zero = has_zero || dim == 0;
        info.shape.push_back(static_cast<std::int64_t>(dim));
    }
    // Element count and byte size must fit in 63 bits (a zero dimension makes the product 0 whatever the rest is).
    std::uint64_t bytes = 0;
    if (!has_zero) {
        const std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        std::uint64_t count = 1;
        for (std::int64_t dim : info.shape) {
            const auto d = static_cast<std::uint64_t>(dim);
            if (count > limit / d) throw tensor_error(file, name, "shape " + shape_string(info.shape) + " overflows");
            count *= d;
        }
        if (count > limit / size_of(info.dtype)) {
            throw tensor_error(file, name, "shape " + shape_string(info.shape) + " overflows");
        }
        bytes = count * size_of(info.dtype);
    }

    const auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end()) throw tensor_error(file, name, "missing 'data_offsets'");
    if (!offsets_it->is_array() || offsets_it->size() != 2) {
        const std::string got = offsets_it->is_array() ? "an array of " + std::to_string(offsets_it->size())
                                                       : json_type(*offsets_it);
        throw tensor_error(file, name, "'data_offsets' must be [begin, end], got " + got);
    }
    info.begin = json_to_u64((*offsets_it)[0], file, name, "data_offsets[0]");
    info.end = json_to_u64((*offsets_it)[1], file, name, "data_offsets[1]");
    if (info.begin > info.end) {
        throw tensor_error(file, name, "data offsets " + range_string(info.begin, info.end) + " begin after they end");
    }
    if (info.end > data_size) {
        throw tensor_error(file, name,
                           "data offsets " + range_string(info.begin, info.end) + " run past the data section (" +
                               std::to_string(data_size) + " bytes)");
    }
    if (info.end - info.begin != bytes) {
        throw tensor_error(file, name,
                           "data offsets " + range_string(info.begin, info.end) + " hold " +
                               std::to_string(info.end - info.begin) + " bytes, but shape " + shape_string(info.shape) +
                               " of " + std::string(name_of(info.dtype)) + " needs " + std::to_string(bytes) +
                               " bytes");
    }
    return info;
}

inline void parse_metadata(const nlohmann::json& value, std::string_view file, safetensors_layout& layout) {
    if (!value.is_object()) {
        throw file_error(file, "'__metadata__' is " + json_type(value) + ", expected an object of strings");
    }
    for (const auto& [key, item] : value.items()) {
        if (!item.is_string()) {
            throw file_error(file, "'__metadata__' entry '" + moe::excerpt(key) + "' is " + json_type(item) +
                                       ", expected a string");
        }
        layout.metadata.emplace(key, item.get<std::string>());
    }
}

}  // namespace detail

// Parses the layout of a whole safetensors file held in `file_bytes`; `file` names it in error messages.
// Accepted: gaps between tensors and trailing bytes after the last one. Rejected: everything listed in
// docs/checkpoints.md (truncation, malformed JSON, bad entries, out-of-range or overlapping offsets, …).
inline safetensors_layout parse_safetensors(std::span<const std::byte> file_bytes, std::string_view file) {
    if (file_bytes.size() < 8) {
        throw detail::file_error(file, "file is " + std::to_string(file_bytes.size()) +
                                           " bytes, too short for the 8-byte header length");
    }
    std::uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | std::to_integer<std::uint64_t>(file_bytes[i]);
    if (header_bytes > max_header_bytes) {
        throw detail::file_error(file, "header length " + std::to_string(header_bytes) + " exceeds the limit of " +
                                           std::to_string(max_header_bytes) + " bytes");
    }
    if (header_bytes > file_bytes.size() - 8) {
        throw detail::file_error(file, "header length " + std::to_string(header_bytes) + " runs past the end of the file (" +
                                           std::to_string(file_bytes.size() - 8) + " bytes after the length)");
    }

    safetensors_layout layout;
    layout.data_offset = 8 + static_cast<std::size_t>(header_bytes);
    layout.data_size = file_bytes.size() - layout.data_offset;

    const auto* header_begin = reinterpret_cast<const char*>(file_bytes.data() + 8);
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(header_begin, header_begin + header_bytes);
    } catch (const nlohmann::json::exception& error) {
        // nlohmann quotes the token it stopped at, which can be a megabyte-long string: capped too.
        throw detail::file_error(file, "malformed JSON header: " + moe::excerpt(error.what(), json_error_excerpt_bytes));
    }
    if (!header.is_object()) {
        throw detail::file_error(file, "JSON header is " + detail::json_type(header) + ", expected an object");
    }

    // nlohmann's object is a std::map, so tensors come out sorted by name.
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            detail::parse_metadata(entry, file, layout);
            continue;
        }
        layout.tensors.push_back(detail::parse_tensor_entry(name, entry, file, layout.data_size));
    }

    // Two tensors sharing bytes would alias silently; empty ranges cannot overlap anything.
    std::vector<const tensor_info*> by_offset;
    for (const auto& info : layout.tensors) {
        if (info.begin != info.end) by_offset.push_back(&info);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const tensor_info* a, const tensor_info* b) { return a->begin < b->begin; });
    for (std::size_t i = 1; i < by_offset.size(); ++i) {
        const tensor_info& before = *by_offset[i - 1];
        const tensor_info& after = *by_offset[i];
        if (after.begin < before.end) {
            throw detail::tensor_error(file, after.name,
                                       "data offsets " + detail::range_string(after.begin, after.end) +
                                           " overlap tensor '" + moe::excerpt(before.name) + "' " +
                                           detail::range_string(before.begin, before.end));
        }
    }
    return layout;
}

}  // namespace moe::io
