// moe/io/gguf_file.hpp — one GGUF file (llama.cpp's format), memory-mapped read-only and validated on open.
//
//   moe::io::gguf_file file("/models/Qwen3-30B-A3B-Q4_K_M.gguf");
//   const auto layers = file.integer("qwen3moe.block_count");             // any integer type, else an error
//   const auto& down = file.require_tensor("blk.0.ffn_down_exps.weight");  // ne = {F, D, E}: ggml order
//   std::span<const std::byte> blocks = file.tensor_bytes(down);           // Q4_K blocks, in place in the mapping
//
// Metadata values are decoded when asked for; tensor bytes are never copied. Keep the gguf_file alive while any span
// from it is used; moving it is fine (the mapping does not move). What is validated: docs/checkpoints.md.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moe/io/ggml_type.hpp"
#include "moe/io/gguf_error.hpp"
#include "moe/io/gguf_parse.hpp"
#include "moe/io/gguf_value.hpp"
#include "moe/io/gguf_view.hpp"
#include "moe/io/mapped_file.hpp"
#include "moe/runtime/regular_file.hpp"

namespace moe::io {

class gguf_file {
   public:
    explicit gguf_file(const std::filesystem::path& file, file_memory memory = file_memory::mapped)
        : mapping_(open(file, memory)), view_(mapping_.bytes(), mapping_.path()) {}

    gguf_file(gguf_file&&) noexcept = default;
    gguf_file& operator=(gguf_file&&) noexcept = default;

    const std::string& path() const { return view_.path(); }
    std::uint32_t version() const { return view_.version(); }
    std::uint64_t alignment() const { return view_.alignment(); }

    // metadata (gguf_view.hpp says what each accessor accepts)
    bool contains(std::string_view key) const { return view_.contains(key); }
    std::optional<gguf_value_type> type_of(std::string_view key) const { return view_.type_of(key); }
    const gguf_value* find_value(std::string_view key) const { return view_.find_value(key); }
    std::string string(std::string_view key) const { return view_.string(key); }
    std::optional<std::string> optional_string(std::string_view key) const { return view_.optional_string(key); }
    std::int64_t integer(std::string_view key) const { return view_.integer(key); }
    std::optional<std::int64_t> optional_integer(std::string_view key) const { return view_.optional_integer(key); }
    double number(std::string_view key) const { return view_.number(key); }
    std::optional<double> optional_number(std::string_view key) const { return view_.optional_number(key); }
    bool boolean(std::string_view key) const { return view_.boolean(key); }
    std::optional<bool> optional_boolean(std::string_view key) const { return view_.optional_boolean(key); }
    std::uint64_t array_size(std::string_view key) const { return view_.array_size(key); }
    std::vector<std::string> string_array(std::string_view key) const { return view_.string_array(key); }
    std::vector<std::int64_t> integer_array(std::string_view key) const { return view_.integer_array(key); }
    std::vector<double> number_array(std::string_view key) const { return view_.number_array(key); }
    std::vector<std::string> keys() const { return view_.keys(); }

    // tensors
    const std::vector<gguf_tensor_info>& tensors() const { return view_.tensors(); }
    const gguf_tensor_info* find_tensor(std::string_view name) const { return view_.find_tensor(name); }
    const gguf_tensor_info& require_tensor(std::string_view name) const { return view_.require_tensor(name); }
    std::span<const std::byte> tensor_bytes(const gguf_tensor_info& info) const { return view_.tensor_bytes(info); }
    std::span<const std::byte> data() const { return view_.data(); }  // the data section; offsets start here
    std::size_t data_offset() const { return view_.data_offset(); }     // where it starts in the file
    const gguf_view& view() const { return view_; }

   private:
    // mapped_file throws checkpoint_error; GGUF callers catch gguf_error, so the same message is rethrown as one.
    static mapped_file open(const std::filesystem::path& file, file_memory memory) {
        try {
            return mapped_file(file, memory);
        } catch (const gguf_error&) {
            throw;
        } catch (const checkpoint_error& error) {
            throw gguf_error(error.what());
        }
    }

    mapped_file mapping_;  // declared first: view_ points into it
    gguf_view view_;
};

// True when `path` is a regular file that starts with "GGUF"; false for anything else (never throws, never blocks).
inline bool is_gguf_file(const std::filesystem::path& path) {
    const moe::detail::regular_file file = moe::detail::regular_file::open(path);
    if (!file || file.size() < 4) return false;
    char magic[4] = {};
    ::ssize_t got = 0;
    do {
        got = ::pread(file.fd(), magic, sizeof magic, 0);
    } while (got < 0 && errno == EINTR);
    return got == 4 && std::string_view(magic, 4) == "GGUF";
}

}  // namespace moe::io
