// moe/io/safetensors_file.hpp — one .safetensors file, memory-mapped read-only and validated on open.
//
// Tensors are handed out as tensor_ref handles into the mapping: nothing is read until used, and weights whose
// dtype matches can be used in place (see tensor_read.hpp). Keep the safetensors_file alive while any view exists;
// moving it is fine (the mapping does not move).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moe/io/mapped_file.hpp"
#include "moe/io/safetensors_view.hpp"

namespace moe::io {

class safetensors_file {
   public:
    explicit safetensors_file(const std::filesystem::path& path, file_memory memory = file_memory::mapped)
        : mapping_(path, memory), view_(mapping_.bytes(), mapping_.path()) {}

    safetensors_file(safetensors_file&&) noexcept = default;
    safetensors_file& operator=(safetensors_file&&) noexcept = default;

    const std::string& path() const { return view_.file(); }
    const std::vector<tensor_info>& tensors() const { return view_.tensors(); }
    const std::map<std::string, std::string, std::less<>>& metadata() const { return view_.metadata(); }
    std::span<const std::byte> data() const { return view_.data(); }
    std::optional<tensor_ref> find(std::string_view name) const { return view_.find(name); }
    tensor_ref require(std::string_view name) const { return view_.require(name); }
    bool contains(std::string_view name) const { return view_.contains(name); }
    tensor_ref ref(const tensor_info& info) const { return view_.ref(info); }
    const safetensors_view& view() const { return view_; }

   private:
    mapped_file mapping_;  // declared first: view_ points into it
    safetensors_view view_;
};

}  // namespace moe::io
