// tests/io/safetensors_writer.hpp — writes small safetensors files (valid or deliberately broken) for the io tests.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moe_test {

// A fresh directory under the system temp dir, removed with everything in it when the object dies.
class temp_dir {
   public:
    temp_dir() {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("moe-io-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

   private:
    std::filesystem::path path_;
};

template <class T>
std::vector<std::byte> bytes_of(const std::vector<T>& values) {
    std::vector<std::byte> bytes(values.size() * sizeof(T));
    if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
}

struct tensor_spec {
    std::string name;
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::byte> bytes;
};

// The whole file: 8-byte little-endian length, header (space-padded to `pad` bytes like the reference writer), data.
inline std::vector<std::byte> file_bytes(const std::string& header, const std::vector<std::byte>& data,
                                         std::size_t pad = 8) {
    std::string padded = header;
    while (pad > 1 && padded.size() % pad != 0) padded += ' ';
    std::vector<std::byte> out(8);
    std::uint64_t length = padded.size();
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::byte>((length >> (8 * i)) & 0xff);
    for (char c : padded) out.push_back(static_cast<std::byte>(c));
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
    std::ofstream stream(path, std::ios::binary | std::ios::trunc);
    stream.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A raw header string plus data, for corrupt files.
inline void write_raw(const std::filesystem::path& path, const std::string& header,
                      const std::vector<std::byte>& data = {}, std::size_t pad = 8) {
    write_bytes(path, file_bytes(header, data, pad));
}

// The header JSON for tensors stored back to back in the order given.
inline std::string header_for(const std::vector<tensor_spec>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    nlohmann::json header = nlohmann::json::object();
    std::size_t offset = 0;
    for (const auto& t : tensors) {
        header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
        offset += t.bytes.size();
    }
    if (!metadata.empty()) header["__metadata__"] = metadata;
    return header.dump();
}

inline std::vector<std::byte> data_for(const std::vector<tensor_spec>& tensors) {
    std::vector<std::byte> data;
    for (const auto& t : tensors) data.insert(data.end(), t.bytes.begin(), t.bytes.end());
    return data;
}

inline void write_safetensors(const std::filesystem::path& path, const std::vector<tensor_spec>& tensors,
                              const std::map<std::string, std::string>& metadata = {}, std::size_t pad = 8) {
    write_raw(path, header_for(tensors, metadata), data_for(tensors), pad);
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream stream(path, std::ios::binary | std::ios::trunc);
    stream << text;
}

}  // namespace moe_test
