// moe/io/checkpoint.hpp — a Hugging Face checkpoint: one model.safetensors, or shards listed by an index.
//
// checkpoint(path) accepts
//   - a directory: model.safetensors if present (as transformers prefers it), else model.safetensors.index.json;
//   - a *.index.json file: {"weight_map": {tensor name: shard file name, …}}, shards relative to its directory;
//   - any other file: a single safetensors file.
// Every shard is mapped and validated on open, and every tensor the index lists must be in its shard, so a broken
// checkpoint fails at load time rather than halfway through building a model. Tensors present in a shard but
// absent from the weight_map are ignored (as transformers does). Only regular files are read, and every shard must
// resolve inside the checkpoint directory (detail::shard_escape; docs/checkpoints.md, "Untrusted files").
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/excerpt.hpp"
#include "moe/io/checkpoint_error.hpp"
#include "moe/io/safetensors_file.hpp"
#include "moe/io/safetensors_parse.hpp"
#include "moe/io/tensor_info.hpp"
#include "moe/runtime/regular_file.hpp"

namespace moe::io {

inline constexpr std::string_view single_file_name = "model.safetensors";
inline constexpr std::string_view index_file_name = "model.safetensors.index.json";

namespace detail {

// Why the shard `name` from an index in `directory` would be read from outside that directory, or "" when it stays
// inside. Lexically: no absolute path, no root name, no '..' component, no NUL byte. Then through symbolic links: the
// shard's canonical path must lie inside the directory's canonical path — or, for the Hugging Face hub cache
// (<repo>/snapshots/<revision>/ whose files link to <repo>/blobs/), inside that repository's blobs folder. Nothing
// is opened or read here, so a refused shard never shows a byte of the file it points at.
inline std::string shard_escape(const std::filesystem::path& directory, const std::string& name) {
    namespace fs = std::filesystem;
    if (name.empty()) return "must be a file name relative to the index";
    if (name.find('\0') != std::string::npos) return "contains a NUL byte";
    const fs::path relative(name);
    if (relative.is_absolute() || relative.has_root_name() || relative.has_root_directory()) {
        return "is an absolute path: it must be a file name relative to the index, inside the checkpoint directory";
    }
    for (const auto& part : relative) {
        if (part == "..") return "has a '..' component: it must be a file name relative to the index, inside the checkpoint directory";
    }
    std::error_code error;
    const fs::path target = fs::canonical(directory / relative, error);
    if (error) return {};  // missing or unreadable: reported as such by the caller
    const fs::path root = fs::canonical(directory.empty() ? fs::path(".") : directory, error);
    if (error) return {};
    auto inside = [&](const fs::path& folder) {
        auto t = target.begin();
        for (auto f = folder.begin(); f != folder.end(); ++f, ++t) {
            if (f->empty()) continue;  // a trailing separator
            if (t == target.end() || *t != *f) return false;
        }
        return true;
    };
    if (inside(root)) return {};
    if (root.parent_path().filename() == "snapshots" && inside(root.parent_path().parent_path() / "blobs")) return {};
    return "is a symbolic link that resolves outside the checkpoint directory: shards must be inside it (not read)";
}

}  // namespace detail

class checkpoint {
   public:
    // `memory`: how every shard is held (see mapped_file.hpp): mapped in place, or read into huge pages.
    explicit checkpoint(const std::filesystem::path& path, file_memory memory = file_memory::mapped)
        : path_(path.string()), memory_(memory) {
        std::error_code error;
        if (std::filesystem::is_directory(path, error)) {
            if (std::filesystem::exists(path / single_file_name, error)) {
                open_single(path / single_file_name);
            } else if (std::filesystem::exists(path / index_file_name, error)) {
                open_index(path / index_file_name);
            } else {
                throw detail::file_error(path_, "directory has neither " + std::string(single_file_name) + " nor " +
                                                    std::string(index_file_name));
            }
        } else if (path.filename().string().ends_with(".index.json")) {
            open_index(path);
        } else {
            open_single(path);
        }
    }

    // The directory or file given to the constructor.
    const std::string& path() const { return path_; }
    bool sharded() const { return !index_.empty(); }
    const std::vector<safetensors_file>& shards() const { return shards_; }

    std::optional<tensor_ref> find(std::string_view name) const {
        if (!sharded()) return shards_.front().find(name);
        const auto it = index_.find(name);
        if (it == index_.end()) return std::nullopt;
        return shards_[it->second].find(name);  // present: checked on open
    }

    tensor_ref require(std::string_view name) const {
        if (auto found = find(name)) return *found;
        throw detail::file_error(sharded() ? index_path_ : shards_.front().path(),
                                 "missing tensor '" + moe::excerpt(name) + "'");
    }

    bool contains(std::string_view name) const { return find(name).has_value(); }

    // Every reachable tensor name, sorted.
    std::vector<std::string> tensor_names() const {
        std::vector<std::string> names;
        if (!sharded()) {
            for (const auto& info : shards_.front().tensors()) names.push_back(info.name);
        } else {
            for (const auto& entry : index_) names.push_back(entry.first);
        }
        return names;
    }

    // The single file's "__metadata__" (the first shard's when sharded — transformers writes the same in each).
    const std::map<std::string, std::string, std::less<>>& metadata() const { return shards_.front().metadata(); }

   private:
    void open_single(const std::filesystem::path& file) { shards_.emplace_back(file, memory_); }

    void open_index(const std::filesystem::path& file) {
        index_path_ = file.string();
        std::string text;
        if (auto problem = moe::detail::read_regular_file(file, text); !problem.empty()) {
            throw detail::file_error(index_path_, problem);  // a FIFO, device or directory is refused, never read
        }
        nlohmann::json index;
        try {
            index = nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception& error) {
            throw detail::file_error(index_path_, "malformed JSON: " + moe::excerpt(error.what(), json_error_excerpt_bytes));
        }
        if (!index.is_object()) {
            throw detail::file_error(index_path_, "JSON is " + detail::json_type(index) + ", expected an object");
        }
        const auto map_it = index.find("weight_map");
        if (map_it == index.end()) throw detail::file_error(index_path_, "missing 'weight_map'");
        if (!map_it->is_object()) {
            throw detail::file_error(index_path_, "'weight_map' is " + detail::json_type(*map_it) + ", expected an object");
        }
        if (map_it->empty()) throw detail::file_error(index_path_, "'weight_map' is empty");

        std::map<std::string, std::size_t, std::less<>> shard_numbers;  // shard file name → position in shards_
        const std::filesystem::path directory = file.parent_path();
        for (const auto& [tensor, shard] : map_it->items()) {
            if (!shard.is_string()) {
                throw detail::file_error(index_path_, "tensor '" + moe::excerpt(tensor) + "': shard is " +
                                                          detail::json_type(shard) + ", expected a file name");
            }
            const auto& shard_name = shard.get_ref<const std::string&>();
            auto number = shard_numbers.find(shard_name);
            if (number == shard_numbers.end()) {
                const std::filesystem::path shard_path = directory / shard_name;
                if (auto problem = detail::shard_escape(directory, shard_name); !problem.empty()) {
                    throw detail::file_error(index_path_, "tensor '" + moe::excerpt(tensor) + "': shard '" +
                                                              moe::excerpt(shard_name) + "' " + problem);
                }
                std::error_code error;
                if (!std::filesystem::exists(shard_path, error)) {
                    throw detail::file_error(index_path_, "tensor '" + moe::excerpt(tensor) + "': shard '" +
                                                              moe::excerpt(shard_name) + "' does not exist (" +
                                                              moe::excerpt(shard_path.string(), path_excerpt_bytes) + ")");
                }
                shards_.emplace_back(shard_path, memory_);
                number = shard_numbers.emplace(shard_name, shards_.size() - 1).first;
            }
            if (!shards_[number->second].contains(tensor)) {
                throw detail::file_error(index_path_, "tensor '" + moe::excerpt(tensor) + "' is listed in shard '" +
                                                          moe::excerpt(shard_name) + "' but is missing from that file");
            }
            index_.emplace(tensor, number->second);
        }
    }

    std::string path_;
    file_memory memory_ = file_memory::mapped;
    std::string index_path_;
    std::vector<safetensors_file> shards_;
    std::map<std::string, std::size_t, std::less<>> index_;  // tensor name → shard position (sharded only)
};

}  // namespace moe::io
