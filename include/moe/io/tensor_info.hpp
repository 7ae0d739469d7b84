// moe/io/tensor_info.hpp — what a safetensors header says about one tensor, and a handle to its bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moe/io/dtype.hpp"

namespace moe::io {

// One header entry, already validated: the shape's element count times the dtype size equals end - begin,
// and [begin, end) lies inside the data section.
struct tensor_info {
    std::string name;
    io::dtype dtype = dtype::f32;
    std::vector<std::int64_t> shape;  // row-major; empty = scalar
    std::uint64_t begin = 0;          // byte offsets relative to the start of the data section
    std::uint64_t end = 0;

    std::int64_t numel() const {
        // A zero dimension anywhere makes the count 0; the parser checks the product only when none is zero, so
        // multiplying the others first could overflow (e.g. (2^40, 2^40, 0)).
        for (std::int64_t d : shape) {
            if (d == 0) return 0;
        }
        std::int64_t n = 1;
        for (std::int64_t d : shape) n *= d;  // cannot overflow: checked at parse time when no dimension is 0
        return n;
    }
    std::size_t byte_size() const { return static_cast<std::size_t>(end - begin); }
};

// "(2, 3, 4)"; "()" for a scalar.
inline std::string shape_string(std::span<const std::int64_t> shape) {
    std::string text = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) text += ", ";
        text += std::to_string(shape[i]);
    }
    return text + ")";
}

// A non-owning handle to one tensor of an opened file: its description, its bytes and the file's name for errors.
// Valid as long as the safetensors_file / checkpoint it came from.
struct tensor_ref {
    const tensor_info* info = nullptr;
    std::span<const std::byte> bytes;  // exactly info->byte_size() bytes, no alignment guarantee
    std::string_view file;             // the path used in error messages

    const std::string& name() const { return info->name; }
    io::dtype dtype() const { return info->dtype; }
    const std::vector<std::int64_t>& shape() const { return info->shape; }
    std::int64_t numel() const { return info->numel(); }
};

}  // namespace moe::io
