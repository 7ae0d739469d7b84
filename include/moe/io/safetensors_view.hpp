// moe/io/safetensors_view.hpp — a parsed safetensors file over bytes someone else owns (a mapping, a buffer).
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/io/checkpoint_error.hpp"
#include "moe/io/safetensors_parse.hpp"
#include "moe/io/tensor_info.hpp"

namespace moe::io {

class safetensors_view {
   public:
    safetensors_view() = default;

    // Parses and validates; throws checkpoint_error naming `file`. `file_bytes` must outlive the view.
    safetensors_view(std::span<const std::byte> file_bytes, std::string file)
        : file_(std::make_shared<const std::string>(std::move(file))),
          bytes_(file_bytes),
          layout_(parse_safetensors(file_bytes, *file_)) {}

    const std::string& file() const { return *file_; }
    const std::vector<tensor_info>& tensors() const { return layout_.tensors; }  // sorted by name
    const std::map<std::string, std::string, std::less<>>& metadata() const { return layout_.metadata; }
    // The data section (everything after the header); tensor offsets are relative to its first byte.
    std::span<const std::byte> data() const { return bytes_.subspan(layout_.data_offset); }

    std::optional<tensor_ref> find(std::string_view name) const {
        const auto& tensors = layout_.tensors;
        const auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                                         [](const tensor_info& info, std::string_view key) { return info.name < key; });
        if (it == tensors.end() || it->name != name) return std::nullopt;
        return ref(*it);
    }

    tensor_ref require(std::string_view name) const {
        if (auto found = find(name)) return *found;
        throw detail::file_error(*file_, "missing tensor '" + moe::excerpt(name) + "'");
    }

    bool contains(std::string_view name) const { return find(name).has_value(); }

    tensor_ref ref(const tensor_info& info) const {
        return {&info, data().subspan(static_cast<std::size_t>(info.begin), info.byte_size()), *file_};
    }

   private:
    // Shared so its address survives moves: tensor_ref::file points at it.
    std::shared_ptr<const std::string> file_ = std::make_shared<const std::string>();
    std::span<const std::byte> bytes_;
    safetensors_layout layout_;
};

}  // namespace moe::io
