// moe/cuda/workspace.hpp — carving one caller-provided device allocation into aligned arrays (CUB-style two phase).
//
//   workspace_layout layout;              // phase 1: sizes only (base == nullptr)
//   auto* a = layout.take<float>(n);      //   returns nullptr, counts bytes
//   bytes = layout.bytes();
//   workspace_layout real(ptr, bytes);    // phase 2: the same take() sequence hands out pointers into ptr
// Every array starts on a 256-byte boundary (what cudaMalloc guarantees and CUB's temporary storage expects).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "moe/cuda/error.hpp"

namespace moe::cuda {

inline constexpr std::size_t workspace_alignment = 256;

class workspace_layout {
   public:
    workspace_layout() = default;  // sizing pass
    workspace_layout(void* base, std::size_t capacity) : base_(static_cast<std::byte*>(base)), capacity_(capacity) {}

    template <class T>
    T* take(std::size_t count) {
        return static_cast<T*>(take_bytes(count * sizeof(T)));
    }
    void* take_bytes(std::size_t bytes) {
        const std::size_t offset = used_;
        used_ += (bytes + workspace_alignment - 1) / workspace_alignment * workspace_alignment;
        if (base_ == nullptr) return nullptr;
        if (used_ > capacity_) {
            throw launch_error("moe::cuda workspace too small: needs at least " + std::to_string(used_) + " bytes, got " +
                               std::to_string(capacity_) + " (size it with get_workspace_size(tokens))");
        }
        return base_ + offset;
    }
    std::size_t bytes() const { return used_; }

   private:
    std::byte* base_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t used_ = 0;
};

// Throws launch_error when `pointer` is not a multiple of `alignment` bytes.
inline void require_aligned(const void* pointer, std::size_t alignment, const char* owner, const char* what) {
    if (reinterpret_cast<std::uintptr_t>(pointer) % alignment != 0) {
        throw launch_error(std::string(owner) + ": '" + what + "' must be " + std::to_string(alignment) +
                           "-byte aligned");
    }
}

}  // namespace moe::cuda
