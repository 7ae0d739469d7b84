// moe/io/gguf_parse.hpp — parses and validates a GGUF file (llama.cpp's format) from bytes in memory.
//
// Layout (all little-endian; as llama.cpp's GGUF reader in ggml and gguf-py's GGUFReader read it):
//   "GGUF" | version u32 (2 or 3) | tensor count u64 | metadata count u64
//   metadata × count:  key (u64 length + bytes) | type u32 | value
//                      value: fixed-size scalar | string (u64 length + bytes) | array: element type u32, count u64,
//                      elements
//   tensor info × count: name (string) | n_dims u32 | ne[n_dims] i64 (innermost first) | ggml type u32 | offset u64
//   padding to general.alignment (default 32) | data section: each tensor at its offset, padded to the alignment
// Everything is checked as llama.cpp's reader checks it before any byte is trusted: a hostile or truncated file
// produces a gguf_error naming the problem, never an out-of-bounds read or an allocation sized by an unchecked
// count (tests/fuzz/fuzz_gguf.cpp feeds random bytes to this function).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/io/ggml_type.hpp"
#include "moe/io/gguf_error.hpp"
#include "moe/io/gguf_value.hpp"

namespace moe::io {

inline constexpr std::uint32_t gguf_min_version = 2;  // version 1 (32-bit counts) is gone from llama.cpp too
inline constexpr std::uint32_t gguf_max_version = 3;
inline constexpr std::uint64_t gguf_default_alignment = 32;
// llama.cpp's own caps (GGUF_MAX_STRING_LENGTH, GGUF_MAX_ARRAY_ELEMENTS): a file beyond them does not load there
// either. Below them, every count and length is also bounded by the bytes left in the file.
inline constexpr std::uint64_t gguf_max_string_bytes = std::uint64_t{1} << 30;
inline constexpr std::uint64_t gguf_max_array_elements = std::uint64_t{1} << 30;
inline constexpr std::uint32_t gguf_max_dims = 4;            // GGML_MAX_DIMS
inline constexpr std::size_t gguf_max_tensor_name_bytes = 63;  // GGML_MAX_NAME - 1 (the name is a char[64] in ggml)

struct gguf_tensor_info {
    std::string name;
    ggml_type type = ggml_type::f32;
    std::vector<std::int64_t> ne;  // ggml order: ne[0] is the innermost (contiguous) dimension; empty = scalar
    std::uint64_t offset = 0;      // relative to the start of the data section, a multiple of the alignment
    std::uint64_t bytes = 0;       // numel() / block_size * type_size

    // Row-major (ne reversed): a (rows, cols) matrix has ne = {cols, rows}.
    std::vector<std::int64_t> shape() const { return {ne.rbegin(), ne.rend()}; }
    std::int64_t numel() const {
        for (std::int64_t d : ne) {
            if (d == 0) return 0;  // before multiplying: the other dimensions' product may overflow
        }
        std::int64_t n = 1;
        for (std::int64_t d : ne) n *= d;  // cannot overflow without a zero: checked at parse time
        return n;
    }
};

struct gguf_metadata_entry {
    std::string key;
    gguf_value value;
};

struct gguf_layout {
    std::uint32_t version = 0;
    std::uint64_t alignment = gguf_default_alignment;
    std::vector<gguf_metadata_entry> metadata;               // in file order
    std::map<std::string, std::size_t, std::less<>> key_index;  // key → position in metadata
    std::vector<gguf_tensor_info> tensors;                   // in file order
    std::map<std::string, std::size_t, std::less<>> tensor_index;  // name → position in tensors
    std::size_t data_offset = 0;  // where the data section starts in the file
    std::size_t data_size = 0;    // bytes from data_offset to the end of the file
};

namespace detail {

// "(4096, 2048)" in ggml order, for messages.
inline std::string ne_string(std::span<const std::int64_t> ne) {
    std::string text = "[";
    for (std::size_t i = 0; i < ne.size(); ++i) {
        if (i > 0) text += ", ";
        text += std::to_string(ne[i]);
    }
    return text + "]";
}

// Reads a GGUF file front to back; every read is bounds-checked and names what it was reading when the file ended.
class gguf_cursor {
   public:
    gguf_cursor(std::span<const std::byte> bytes, std::string_view file) : bytes_(bytes), file_(file) {}

    std::size_t position() const { return position_; }
    std::size_t remaining() const { return bytes_.size() - position_; }
    std::string_view file() const { return file_; }

    // The next `n` bytes, or "file ends inside <what>" when fewer remain.
    std::span<const std::byte> take(std::size_t n, std::string_view what) {
        if (n > remaining()) {
            throw gguf_file_error(file_, "truncated: the file ends inside " + std::string(what) + " (offset " +
                                             std::to_string(position_) + " needs " + std::to_string(n) +
                                             " bytes, " + std::to_string(remaining()) + " remain)");
        }
        const auto span = bytes_.subspan(position_, n);
        position_ += n;
        return span;
    }

    template <class U>
    U read(std::string_view what) {
        return load_le<U>(take(sizeof(U), what).data());
    }

    // A u64-length-prefixed string, without copying it.
    std::string_view read_string(std::string_view what) {
        const std::uint64_t length = read<std::uint64_t>(what);
        if (length > gguf_max_string_bytes) {
            throw gguf_file_error(file_, std::string(what) + " at offset " + std::to_string(position_ - 8) +
                                             " has length " + std::to_string(length) + ", above the limit of " +
                                             std::to_string(gguf_max_string_bytes) + " bytes");
        }
        if (length > remaining()) {
            throw gguf_file_error(file_, std::string(what) + " at offset " + std::to_string(position_ - 8) +
                                             " has length " + std::to_string(length) + ", past the end of the file (" +
                                             std::to_string(remaining()) + " bytes remain)");
        }
        const auto span = take(static_cast<std::size_t>(length), what);
        return {reinterpret_cast<const char*>(span.data()), span.size()};
    }

    // The bytes read since position `begin`.
    std::span<const std::byte> since(std::size_t begin) const { return bytes_.subspan(begin, position_ - begin); }

   private:
    std::span<const std::byte> bytes_;
    std::string_view file_;
    std::size_t position_ = 0;
};

// The smallest encodings, to bound counts by the bytes left before reserving anything.
inline constexpr std::uint64_t min_metadata_entry_bytes = 8 + 1 + 4 + 1;  // key length, 1-byte key, type, u8 value
inline constexpr std::uint64_t min_tensor_info_bytes = 8 + 4 + 4 + 8;    // empty name, n_dims 0, type, offset

// Parses the value of key `key` whose type tag was `raw_type`; the cursor is just past the tag.
inline gguf_value parse_gguf_value(gguf_cursor& in, std::string_view key, std::uint32_t raw_type) {
    const std::string_view file = in.file();
    if (raw_type >= gguf_value_type_count) {
        throw gguf_key_error(file, key, "has unknown value type " + std::to_string(raw_type) + " (GGUF types are 0 to " +
                                            std::to_string(gguf_value_type_count - 1) + ")");
    }
    gguf_value value;
    value.type = static_cast<gguf_value_type>(raw_type);
    if (value.type == gguf_value_type::string) {
        const std::string_view text = in.read_string("the string value of metadata '" + moe::excerpt(key) + "'");
        value.bytes = std::as_bytes(std::span(text.data(), text.size()));
        return value;
    }
    if (value.type != gguf_value_type::array) {
        value.bytes = in.take(fixed_size_of(value.type), "the value of metadata '" + moe::excerpt(key) + "'");
        return value;
    }

    const std::string what = "the array header of metadata '" + moe::excerpt(key) + "'";
    const std::uint32_t raw_element = in.read<std::uint32_t>(what);
    value.count = in.read<std::uint64_t>(what);
    if (raw_element >= gguf_value_type_count) {
        throw gguf_key_error(file, key, "is an array of unknown value type " + std::to_string(raw_element) +
                                            " (GGUF types are 0 to " + std::to_string(gguf_value_type_count - 1) + ")");
    }
    value.element_type = static_cast<gguf_value_type>(raw_element);
    if (value.element_type == gguf_value_type::array) {
        throw gguf_key_error(file, key, "is an array of arrays, which llama.cpp does not read either");
    }
    if (value.count > gguf_max_array_elements) {
        throw gguf_key_error(file, key, "is an array of " + std::to_string(value.count) + " elements, above the limit of " +
                                            std::to_string(gguf_max_array_elements));
    }
    // Each element takes at least its fixed size, or the 8-byte length of a string.
    const std::uint64_t min_element = value.element_type == gguf_value_type::string ? 8 : fixed_size_of(value.element_type);
    if (value.count > in.remaining() / min_element) {
        throw gguf_key_error(file, key,
                             "is an array of " + std::to_string(value.count) + " " +
                                 std::string(name_of(value.element_type)) + " elements, more than the " +
                                 std::to_string(in.remaining()) + " bytes left in the file can hold");
    }
    const std::size_t begin = in.position();
    if (value.element_type == gguf_value_type::string) {
        const std::string element_what = "a string in metadata '" + moe::excerpt(key) + "'";
        for (std::uint64_t i = 0; i < value.count; ++i) in.read_string(element_what);
    } else {
        in.take(static_cast<std::size_t>(value.count) * min_element, "the elements of metadata '" + moe::excerpt(key) + "'");
    }
    value.bytes = in.since(begin);
    return value;
}

inline std::string magic_excerpt(std::span<const std::byte> magic) {
    return moe::excerpt(std::string_view(reinterpret_cast<const char*>(magic.data()), magic.size()));
}

inline std::uint32_t byte_swapped(std::uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

inline std::uint32_t parse_gguf_version(gguf_cursor& in) {
    const std::string_view file = in.file();
    const auto version = in.read<std::uint32_t>("the version");
    if (version == 0) throw gguf_file_error(file, "GGUF version 0 is invalid");
    // A file written on a big-endian machine: its version 3 reads here as 0x03000000 (the test llama.cpp's reader uses).
    if ((version & 0xffffu) == 0) {
        throw gguf_file_error(file, "version field reads " + std::to_string(version) +
                                        ": this is a big-endian GGUF file (version " +
                                        std::to_string(byte_swapped(version)) +
                                        " byte-swapped), and only little-endian files are read");
    }
    if (version == 1) {
        throw gguf_file_error(file, "GGUF version 1 is no longer supported (nor by llama.cpp); convert the model again");
    }
    if (version > gguf_max_version) {
        throw gguf_file_error(file, "GGUF version " + std::to_string(version) + " is newer than this reader (versions " +
                                        std::to_string(gguf_min_version) + " to " + std::to_string(gguf_max_version) +
                                        ")");
    }
    return version;
}

inline void parse_gguf_metadata(gguf_cursor& in, std::uint64_t count, gguf_layout& layout) {
    const std::string_view file = in.file();
    layout.metadata.reserve(static_cast<std::size_t>(count));  // bounded by the file size (checked by the caller)
    for (std::uint64_t i = 0; i < count; ++i) {
        const std::string entry = "metadata entry " + std::to_string(i);
        const std::string_view key = in.read_string("the key of " + entry);
        if (key.empty()) throw gguf_file_error(file, entry + " has an empty key");
        const auto [it, inserted] = layout.key_index.emplace(std::string(key), layout.metadata.size());
        if (!inserted) {
            throw gguf_key_error(file, key, "appears twice (entries " + std::to_string(it->second) + " and " +
                                                std::to_string(i) + ")");
        }
        const auto raw_type = in.read<std::uint32_t>("the type of metadata '" + moe::excerpt(key) + "'");
        layout.metadata.push_back({std::string(key), parse_gguf_value(in, key, raw_type)});
    }

    // general.alignment must be a uint32 power of two, as llama.cpp and gguf-py require.
    const auto alignment = layout.key_index.find(std::string_view("general.alignment"));
    if (alignment != layout.key_index.end()) {
        const gguf_value& value = layout.metadata[alignment->second].value;
        if (value.type != gguf_value_type::uint32) {
            throw gguf_key_error(file, "general.alignment", "is " + describe(value) + ", expected a uint32");
        }
        const auto a = load_le<std::uint32_t>(value.bytes.data());
        if (a == 0 || (a & (a - 1)) != 0) {
            throw gguf_key_error(file, "general.alignment", "is " + std::to_string(a) + ", expected a non-zero power of two");
        }
        layout.alignment = a;
    }
}

inline gguf_tensor_info parse_gguf_tensor_info(gguf_cursor& in, std::uint64_t index, gguf_layout& layout) {
    const std::string_view file = in.file();
    const std::string tensor = "tensor " + std::to_string(index);
    gguf_tensor_info info;
    const std::string_view name = in.read_string("the name of " + tensor);
    if (name.size() > gguf_max_tensor_name_bytes) {
        throw gguf_file_error(file, tensor + " has a name of " + std::to_string(name.size()) + " bytes ('" +
                                        moe::excerpt(name) + "'), longer than ggml's limit of " +
                                        std::to_string(gguf_max_tensor_name_bytes));
    }
    info.name = std::string(name);
    const auto [it, inserted] = layout.tensor_index.emplace(info.name, layout.tensors.size());
    if (!inserted) {
        throw gguf_tensor_error(file, name, "appears twice (tensors " + std::to_string(it->second) + " and " +
                                                std::to_string(index) + ")");
    }

    const std::string what = "the shape of tensor '" + moe::excerpt(name) + "'";
    const auto n_dims = in.read<std::uint32_t>(what);
    if (n_dims > gguf_max_dims) {
        throw gguf_tensor_error(file, name, "has " + std::to_string(n_dims) + " dimensions; ggml tensors have at most " +
                                                std::to_string(gguf_max_dims));
    }
    // Element count in 63 bits (llama.cpp's check; a zero dimension makes the product 0 whatever the rest is).
    bool has_zero = false;
    for (std::uint32_t j = 0; j < n_dims; ++j) {
        const auto d = static_cast<std::int64_t>(in.read<std::uint64_t>(what));
        if (d < 0) throw gguf_tensor_error(file, name, "ne[" + std::to_string(j) + "] = " + std::to_string(d) + " is negative");
        has_zero = has_zero || d == 0;
        info.ne.push_back(d);
    }
    std::int64_t numel = 1;
    if (!has_zero) {
        for (std::int64_t d : info.ne) {
            if (numel > std::numeric_limits<std::int64_t>::max() / d) {
                throw gguf_tensor_error(file, name, "ne " + ne_string(info.ne) + " has more than 2^63 - 1 elements");
            }
            numel *= d;
        }
    } else {
        numel = 0;
    }

    const auto raw_type = in.read<std::uint32_t>("the type of tensor '" + moe::excerpt(name) + "'");
    const auto type_info = ggml_type_info_of(raw_type);
    if (!type_info) throw gguf_tensor_error(file, name, "has unknown ggml type id " + std::to_string(raw_type));
    info.type = static_cast<ggml_type>(raw_type);
    const std::int64_t ne0 = info.ne.empty() ? 1 : info.ne[0];
    if (ne0 % type_info->block_size != 0) {
        throw gguf_tensor_error(file, name, "ne[0] = " + std::to_string(ne0) + " is not a multiple of the " +
                                                std::string(type_info->name) + " block size " +
                                                std::to_string(type_info->block_size));
    }
    const std::int64_t blocks = numel / type_info->block_size;
    if (blocks > std::numeric_limits<std::int64_t>::max() / type_info->type_size) {
        throw gguf_tensor_error(file, name, "ne " + ne_string(info.ne) + " of " + std::string(type_info->name) +
                                                " takes more than 2^63 - 1 bytes");
    }
    info.bytes = static_cast<std::uint64_t>(blocks * type_info->type_size);
    info.offset = in.read<std::uint64_t>("the data offset of tensor '" + moe::excerpt(name) + "'");
    return info;
}

// Tensor data as llama.cpp's reader requires it: in file order, the first at offset 0, each next one at the
// previous end padded to the alignment, all inside the file.
inline void check_gguf_data(std::string_view file, gguf_layout& layout, std::size_t header_end, std::size_t file_size) {
    layout.data_offset = header_end;
    if (!layout.tensors.empty()) {
        const std::uint64_t padded = (header_end + layout.alignment - 1) / layout.alignment * layout.alignment;
        if (padded > file_size) {
            throw gguf_file_error(file, "the data section would start at offset " + std::to_string(padded) +
                                            " (header end " + std::to_string(header_end) + " padded to the alignment " +
                                            std::to_string(layout.alignment) + "), past the end of the file (" +
                                            std::to_string(file_size) + " bytes)");
        }
        layout.data_offset = static_cast<std::size_t>(padded);
    }
    layout.data_size = file_size - layout.data_offset;

    std::uint64_t expected = 0;
    for (const gguf_tensor_info& info : layout.tensors) {
        if (info.offset % layout.alignment != 0) {
            throw gguf_tensor_error(file, info.name, "offset " + std::to_string(info.offset) +
                                                         " is not a multiple of the alignment " +
                                                         std::to_string(layout.alignment));
        }
        if (info.offset != expected) {
            throw gguf_tensor_error(file, info.name,
                                    "offset " + std::to_string(info.offset) + ", expected " + std::to_string(expected) +
                                        " (tensor data must follow in file order, each padded to the alignment " +
                                        std::to_string(layout.alignment) + ")");
        }
        if (info.bytes > layout.data_size || info.offset > layout.data_size - info.bytes) {
            throw gguf_tensor_error(file, info.name,
                                    "data [" + std::to_string(info.offset) + ", " +
                                        std::to_string(info.offset + info.bytes) + ") runs past the end of the file (" +
                                        std::to_string(layout.data_size) + " bytes of data after offset " +
                                        std::to_string(layout.data_offset) + ")");
        }
        // No overflow: offset + bytes <= data_size < 2^63 and the alignment is at most 2^31.
        expected = (info.offset + info.bytes + layout.alignment - 1) / layout.alignment * layout.alignment;
    }
}

}  // namespace detail

// Parses the layout of a whole GGUF file held in `file_bytes`; `file` names it in error messages. The layout's
// metadata values point into `file_bytes`. Rejected: everything listed in docs/checkpoints.md ("GGUF files").
inline gguf_layout parse_gguf(std::span<const std::byte> file_bytes, std::string_view file) {
    if (file_bytes.size() < 4) {
        throw detail::gguf_file_error(file, "file is " + std::to_string(file_bytes.size()) +
                                                " bytes, too short for the GGUF magic");
    }
    const auto magic = file_bytes.first(4);
    if (magic[0] != std::byte{'G'} || magic[1] != std::byte{'G'} || magic[2] != std::byte{'U'} ||
        magic[3] != std::byte{'F'}) {
        throw detail::gguf_file_error(file, "not a GGUF file: it starts with '" + detail::magic_excerpt(magic) +
                                                "', expected 'GGUF'");
    }
    detail::gguf_cursor in(file_bytes, file);
    in.take(4, "the magic");
    gguf_layout layout;
    layout.version = detail::parse_gguf_version(in);
    const auto tensor_count = in.read<std::uint64_t>("the tensor count");
    const auto metadata_count = in.read<std::uint64_t>("the metadata count");
    if (metadata_count > in.remaining() / detail::min_metadata_entry_bytes) {
        throw detail::gguf_file_error(file, "metadata count " + std::to_string(metadata_count) + " cannot fit in the " +
                                                std::to_string(in.remaining()) + " bytes left in the file (truncated, or a corrupt count)");
    }
    if (tensor_count > in.remaining() / detail::min_tensor_info_bytes) {
        throw detail::gguf_file_error(file, "tensor count " + std::to_string(tensor_count) + " cannot fit in the " +
                                                std::to_string(in.remaining()) + " bytes left in the file (truncated, or a corrupt count)");
    }
    detail::parse_gguf_metadata(in, metadata_count, layout);

    if (tensor_count > in.remaining() / detail::min_tensor_info_bytes) {
        throw detail::gguf_file_error(file, "tensor count " + std::to_string(tensor_count) + " cannot fit in the " +
                                                std::to_string(in.remaining()) + " bytes left after the metadata (truncated, or a corrupt count)");
    }
    layout.tensors.reserve(static_cast<std::size_t>(tensor_count));
    for (std::uint64_t i = 0; i < tensor_count; ++i) {
        layout.tensors.push_back(detail::parse_gguf_tensor_info(in, i, layout));
    }
    detail::check_gguf_data(file, layout, in.position(), file_bytes.size());
    return layout;
}

}  // namespace moe::io
