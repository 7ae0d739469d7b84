// moe/io/gguf_view.hpp — a parsed GGUF file over bytes someone else owns (a mapping, a buffer): typed metadata
// access and tensor lookup. gguf_file (gguf_file.hpp) is this plus the mapping of a file.
//
// Metadata accessors decode on demand and check the type: asking for an integer where the file holds a string throws
// "<file>: metadata '<key>' is a string, expected an integer". integer() accepts every integer type (a uint64 above
// INT64_MAX throws); number() accepts float32, float64 and integers a double holds exactly; boolean() only bool.
// An empty array converts to every array type (its element type carries no information).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/io/gguf_error.hpp"
#include "moe/io/gguf_parse.hpp"
#include "moe/io/gguf_value.hpp"

namespace moe::io {

class gguf_view {
   public:
    gguf_view() = default;

    // Parses and validates; throws gguf_error naming `file`. `file_bytes` must outlive the view.
    gguf_view(std::span<const std::byte> file_bytes, std::string file)
        : file_(std::make_shared<const std::string>(std::move(file))),
          bytes_(file_bytes),
          layout_(parse_gguf(file_bytes, *file_)) {}

    const std::string& path() const { return *file_; }
    std::uint32_t version() const { return layout_.version; }
    std::uint64_t alignment() const { return layout_.alignment; }
    const gguf_layout& layout() const { return layout_; }

    // ---- metadata ----
    bool contains(std::string_view key) const { return find_value(key) != nullptr; }
    const gguf_value* find_value(std::string_view key) const {
        const auto it = layout_.key_index.find(key);
        return it == layout_.key_index.end() ? nullptr : &layout_.metadata[it->second].value;
    }
    const gguf_value& require_value(std::string_view key) const {
        if (const gguf_value* value = find_value(key)) return *value;
        throw detail::gguf_file_error(*file_, "missing metadata '" + moe::excerpt(key) + "'");
    }
    std::optional<gguf_value_type> type_of(std::string_view key) const {
        const gguf_value* value = find_value(key);
        return value ? std::optional(value->type) : std::nullopt;
    }
    std::vector<std::string> keys() const {  // in file order
        std::vector<std::string> out;
        out.reserve(layout_.metadata.size());
        for (const auto& entry : layout_.metadata) out.push_back(entry.key);
        return out;
    }

    std::string string(std::string_view key) const { return string_of(key, require_value(key)); }
    std::optional<std::string> optional_string(std::string_view key) const {
        const gguf_value* value = find_value(key);
        return value ? std::optional(string_of(key, *value)) : std::nullopt;
    }
    std::int64_t integer(std::string_view key) const { return integer_of(key, require_value(key)); }
    std::optional<std::int64_t> optional_integer(std::string_view key) const {
        const gguf_value* value = find_value(key);
        return value ? std::optional(integer_of(key, *value)) : std::nullopt;
    }
    double number(std::string_view key) const { return number_of(key, require_value(key)); }
    std::optional<double> optional_number(std::string_view key) const {
        const gguf_value* value = find_value(key);
        return value ? std::optional(number_of(key, *value)) : std::nullopt;
    }
    bool boolean(std::string_view key) const { return boolean_of(key, require_value(key)); }
    std::optional<bool> optional_boolean(std::string_view key) const {
        const gguf_value* value = find_value(key);
        return value ? std::optional(boolean_of(key, *value)) : std::nullopt;
    }

    // The element count of an array (a scalar is a type error).
    std::uint64_t array_size(std::string_view key) const {
        const gguf_value& value = require_value(key);
        if (value.type != gguf_value_type::array) throw type_error(key, value, "an array");
        return value.count;
    }
    std::vector<std::string> string_array(std::string_view key) const {
        const gguf_value& value = array_of(key, "an array of strings", [](gguf_value_type t) {
            return t == gguf_value_type::string;
        });
        std::vector<std::string> out;
        out.reserve(static_cast<std::size_t>(value.count));  // count * 8 <= the file's size: checked at parse time
        for_each_string(value, [&](std::string_view text) { out.emplace_back(text); });
        return out;
    }
    std::vector<std::int64_t> integer_array(std::string_view key) const {
        const gguf_value& value = array_of(key, "an array of integers", [](gguf_value_type t) { return is_integer(t); });
        std::vector<std::int64_t> out;
        out.reserve(static_cast<std::size_t>(value.count));
        const std::size_t size = fixed_size_of(value.element_type);
        for (std::uint64_t i = 0; i < value.count; ++i) {
            const std::byte* p = value.bytes.data() + i * size;
            const auto integer = detail::gguf_integer_at(value.element_type, p);
            if (!integer) {
                throw detail::gguf_key_error(*file_, key, "element " + std::to_string(i) + " is " +
                                                              std::to_string(detail::gguf_uint64_at(p)) +
                                                              ", above the int64 range");
            }
            out.push_back(*integer);
        }
        return out;
    }
    std::vector<double> number_array(std::string_view key) const {
        const gguf_value& value = array_of(key, "an array of numbers", [](gguf_value_type t) {
            return is_floating(t) || is_integer(t);
        });
        std::vector<double> out;
        out.reserve(static_cast<std::size_t>(value.count));
        const std::size_t size = fixed_size_of(value.element_type);
        for (std::uint64_t i = 0; i < value.count; ++i) {
            const auto number = detail::gguf_number_at(value.element_type, value.bytes.data() + i * size);
            if (!number) {
                throw detail::gguf_key_error(*file_, key, "element " + std::to_string(i) +
                                                              " is an integer a double cannot hold exactly");
            }
            out.push_back(*number);
        }
        return out;
    }

    // ---- tensors ----
    const std::vector<gguf_tensor_info>& tensors() const { return layout_.tensors; }  // in file order
    const gguf_tensor_info* find_tensor(std::string_view name) const {
        const auto it = layout_.tensor_index.find(name);
        return it == layout_.tensor_index.end() ? nullptr : &layout_.tensors[it->second];
    }
    const gguf_tensor_info& require_tensor(std::string_view name) const {
        if (const gguf_tensor_info* info = find_tensor(name)) return *info;
        throw detail::gguf_file_error(*file_, "missing tensor '" + moe::excerpt(name) + "'");
    }
    // The data section (from the aligned end of the header to the end of the file); tensor offsets start here.
    std::span<const std::byte> data() const { return bytes_.subspan(layout_.data_offset); }
    std::size_t data_offset() const { return layout_.data_offset; }
    // Exactly info.bytes, inside the file's bytes. `info` must come from this file (checked against its bounds).
    std::span<const std::byte> tensor_bytes(const gguf_tensor_info& info) const {
        const auto section = data();
        if (info.bytes > section.size() || info.offset > section.size() - info.bytes) {
            throw detail::gguf_tensor_error(*file_, info.name, "is not a tensor of this file (its data lies outside it)");
        }
        return section.subspan(static_cast<std::size_t>(info.offset), static_cast<std::size_t>(info.bytes));
    }

   private:
    gguf_error type_error(std::string_view key, const gguf_value& value, std::string_view expected) const {
        return detail::gguf_key_error(*file_, key, "is " + describe(value) + ", expected " + std::string(expected));
    }

    std::string string_of(std::string_view key, const gguf_value& value) const {
        if (value.type != gguf_value_type::string) throw type_error(key, value, "a string");
        return {reinterpret_cast<const char*>(value.bytes.data()), value.bytes.size()};
    }
    std::int64_t integer_of(std::string_view key, const gguf_value& value) const {
        if (!is_integer(value.type)) throw type_error(key, value, "an integer");
        const auto integer = detail::gguf_integer_at(value.type, value.bytes.data());
        if (!integer) {
            throw detail::gguf_key_error(*file_, key, "is " + std::to_string(detail::gguf_uint64_at(value.bytes.data())) +
                                                          ", above the int64 range");
        }
        return *integer;
    }
    double number_of(std::string_view key, const gguf_value& value) const {
        if (!is_floating(value.type) && !is_integer(value.type)) throw type_error(key, value, "a number");
        const auto number = detail::gguf_number_at(value.type, value.bytes.data());
        if (!number) throw detail::gguf_key_error(*file_, key, "is an integer a double cannot hold exactly");
        return *number;
    }
    bool boolean_of(std::string_view key, const gguf_value& value) const {
        if (value.type != gguf_value_type::boolean) throw type_error(key, value, "a bool");
        return value.bytes[0] != std::byte{0};  // llama.cpp reads any non-zero byte as true
    }

    template <class Accepts>
    const gguf_value& array_of(std::string_view key, std::string_view expected, Accepts accepts) const {
        const gguf_value& value = require_value(key);
        if (value.type != gguf_value_type::array || (value.count > 0 && !accepts(value.element_type))) {
            throw type_error(key, value, expected);
        }
        return value;
    }

    // Walks the length-prefixed strings of a validated string array.
    template <class F>
    static void for_each_string(const gguf_value& value, F&& f) {
        if (value.element_type != gguf_value_type::string) return;  // an empty array of another type
        std::size_t at = 0;
        for (std::uint64_t i = 0; i < value.count && value.bytes.size() - at >= 8; ++i) {
            const auto length = detail::load_le<std::uint64_t>(value.bytes.data() + at);
            at += 8;
            if (length > value.bytes.size() - at) return;  // cannot happen after parsing; never read past the value
            f(std::string_view(reinterpret_cast<const char*>(value.bytes.data() + at), static_cast<std::size_t>(length)));
            at += static_cast<std::size_t>(length);
        }
    }

    // Shared so its address survives moves.
    std::shared_ptr<const std::string> file_ = std::make_shared<const std::string>();
    std::span<const std::byte> bytes_;
    gguf_layout layout_;
};

}  // namespace moe::io
