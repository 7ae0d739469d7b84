// tests/io/gguf_writer.hpp — writes small GGUF files, valid or deliberately broken, for the GGUF reader tests.
//
// Independent of the reader: the layout is spelled out here from the format (llama.cpp's GGUF reader and
// gguf-py's GGUFWriter) — header, metadata, tensor infos, padding to the alignment, data — and every field can be
// overridden to make a hostile file (a count, an offset, a type id, the version, the magic).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moe_test {

// GGUF value type tags (gguf.h).
enum gguf_tag : std::uint32_t {
    tag_uint8 = 0, tag_int8, tag_uint16, tag_int16, tag_uint32, tag_int32, tag_float32, tag_bool, tag_string,
    tag_array, tag_uint64, tag_int64, tag_float64
};

// Little-endian byte sink.
struct le_bytes {
    std::vector<std::byte> out;

    template <class T>
    le_bytes& put(T value) {
        unsigned char raw[sizeof(T)];
        std::memcpy(raw, &value, sizeof(T));  // the tests run on little-endian hosts (x86, arm64)
        for (unsigned char c : raw) out.push_back(static_cast<std::byte>(c));
        return *this;
    }
    le_bytes& text(std::string_view s) {  // u64 length + bytes
        put<std::uint64_t>(s.size());
        for (char c : s) out.push_back(static_cast<std::byte>(c));
        return *this;
    }
    le_bytes& raw(const std::vector<std::byte>& bytes) {
        out.insert(out.end(), bytes.begin(), bytes.end());
        return *this;
    }
};

// One metadata entry: the key, the type tag, and the encoded value that follows the tag.
struct gguf_kv {
    std::string key;
    std::uint32_t type;
    std::vector<std::byte> value;
};

template <class T>
gguf_kv kv_scalar(std::string key, std::uint32_t type, T value) {
    return {std::move(key), type, le_bytes{}.put(value).out};
}
inline gguf_kv kv_u32(std::string key, std::uint32_t v) { return kv_scalar(std::move(key), tag_uint32, v); }
inline gguf_kv kv_string(std::string key, std::string_view v) { return {std::move(key), tag_string, le_bytes{}.text(v).out}; }
// An array header (element type, count) followed by `elements` as given (which need not match the count).
inline gguf_kv kv_array(std::string key, std::uint32_t element_type, std::uint64_t count,
                        const std::vector<std::byte>& elements) {
    return {std::move(key), tag_array, le_bytes{}.put(element_type).put(count).raw(elements).out};
}

struct gguf_tensor_spec {
    std::string name;
    std::vector<std::int64_t> ne;            // ggml order
    std::uint32_t type = 0;                  // ggml type id (0 = F32)
    std::uint64_t data_bytes = 0;            // bytes of data written (zeros unless `data` is given)
    std::vector<std::byte> data;
    std::optional<std::uint64_t> offset;     // default: the running sum of padded sizes, as writers do
    std::optional<std::uint32_t> n_dims;     // default: ne.size()
};

inline gguf_tensor_spec f32_tensor(std::string name, std::vector<std::int64_t> ne) {
    std::uint64_t n = 1;
    for (auto d : ne) n *= static_cast<std::uint64_t>(d);
    return {std::move(name), std::move(ne), 0, 4 * n, {}, {}, {}};
}

struct gguf_spec {
    std::string magic = "GGUF";
    std::uint32_t version = 3;
    std::vector<gguf_kv> metadata;
    std::vector<gguf_tensor_spec> tensors;
    std::uint64_t alignment = 32;                  // padding used; add a general.alignment entry to declare it
    std::optional<std::uint64_t> tensor_count;     // default: tensors.size()
    std::optional<std::uint64_t> metadata_count;   // default: metadata.size()
};

inline std::uint64_t pad_to(std::uint64_t n, std::uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// The whole file.
inline std::vector<std::byte> gguf_bytes(const gguf_spec& spec) {
    le_bytes b;
    for (char c : spec.magic) b.out.push_back(static_cast<std::byte>(c));
    b.put(spec.version);
    b.put<std::uint64_t>(spec.tensor_count.value_or(spec.tensors.size()));
    b.put<std::uint64_t>(spec.metadata_count.value_or(spec.metadata.size()));
    for (const auto& kv : spec.metadata) b.text(kv.key).put(kv.type).raw(kv.value);
    std::uint64_t offset = 0;
    for (const auto& t : spec.tensors) {
        b.text(t.name).put<std::uint32_t>(t.n_dims.value_or(static_cast<std::uint32_t>(t.ne.size())));
        for (auto d : t.ne) b.put<std::int64_t>(d);
        b.put(t.type).put<std::uint64_t>(t.offset.value_or(offset));
        offset += pad_to(t.data.empty() ? t.data_bytes : t.data.size(), spec.alignment);
    }
    if (!spec.tensors.empty()) b.out.resize(pad_to(b.out.size(), spec.alignment));
    for (std::size_t i = 0; i < spec.tensors.size(); ++i) {
        const auto& t = spec.tensors[i];
        if (t.data.empty()) b.out.resize(b.out.size() + t.data_bytes);
        else b.raw(t.data);
        if (i + 1 < spec.tensors.size()) b.out.resize(pad_to(b.out.size(), spec.alignment));
    }
    return b.out;
}

}  // namespace moe_test
