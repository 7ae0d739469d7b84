// moe/cuda/memory.hpp — RAII owners for device memory, streams and events, and host ↔ device copies.
//
// device_buffer<T>  cudaMalloc'd array of T; move-only; freed in the destructor (errors there are not thrown).
// stream            a non-blocking cudaStream_t; converts to cudaStream_t.
// event             a cudaEvent_t; record / synchronize / elapsed milliseconds (for benchmarks).
// Copies are asynchronous on the given stream; the *_sync helpers wait for the stream.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "moe/cuda/error.hpp"

namespace moe::cuda {

template <class T>
class device_buffer {
   public:
    device_buffer() = default;
    explicit device_buffer(std::size_t count) { allocate(count); }
    // Uploads `host` (synchronously: the host memory may be released when this returns).
    explicit device_buffer(std::span<const T> host) {
        allocate(host.size());
        if (!host.empty()) MOE_CUDA_CHECK(cudaMemcpy(data_, host.data(), host.size_bytes(), cudaMemcpyHostToDevice));
    }
    device_buffer(const device_buffer&) = delete;
    device_buffer& operator=(const device_buffer&) = delete;
    device_buffer(device_buffer&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    device_buffer& operator=(device_buffer&& other) noexcept {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }
    ~device_buffer() { release(); }

    T* data() { return data_; }
    const T* data() const { return data_; }
    std::size_t size() const { return size_; }
    std::size_t bytes() const { return size_ * sizeof(T); }
    bool empty() const { return size_ == 0; }

    // Asynchronous copies of `count` elements starting at element `offset`.
    void upload(const T* host, std::size_t count, cudaStream_t s, std::size_t offset = 0) {
        if (count) MOE_CUDA_CHECK(cudaMemcpyAsync(data_ + offset, host, count * sizeof(T), cudaMemcpyHostToDevice, s));
    }
    void download(T* host, std::size_t count, cudaStream_t s, std::size_t offset = 0) const {
        if (count) MOE_CUDA_CHECK(cudaMemcpyAsync(host, data_ + offset, count * sizeof(T), cudaMemcpyDeviceToHost, s));
    }
    // The whole buffer on the host (waits for the default stream and all work before it).
    std::vector<T> to_host() const {
        std::vector<T> host(size_);
        if (size_) MOE_CUDA_CHECK(cudaMemcpy(host.data(), data_, bytes(), cudaMemcpyDeviceToHost));
        return host;
    }

   private:
    void allocate(std::size_t count) {
        size_ = count;
        if (count) MOE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(T)));
    }
    void release() noexcept {
        if (data_) cudaFree(data_);  // never throws from a destructor; a sticky error surfaces at the next check
        data_ = nullptr;
        size_ = 0;
    }
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

class stream {
   public:
    stream() { MOE_CUDA_CHECK(cudaStreamCreateWithFlags(&handle_, cudaStreamNonBlocking)); }
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;
    stream(stream&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    ~stream() {
        if (handle_) cudaStreamDestroy(handle_);
    }
    cudaStream_t get() const { return handle_; }
    operator cudaStream_t() const { return handle_; }
    void synchronize() const { MOE_CUDA_CHECK(cudaStreamSynchronize(handle_)); }

   private:
    cudaStream_t handle_ = nullptr;
};

class event {
   public:
    event() { MOE_CUDA_CHECK(cudaEventCreate(&handle_)); }
    event(const event&) = delete;
    event& operator=(const event&) = delete;
    event(event&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    ~event() {
        if (handle_) cudaEventDestroy(handle_);
    }
    cudaEvent_t get() const { return handle_; }
    void record(cudaStream_t s) { MOE_CUDA_CHECK(cudaEventRecord(handle_, s)); }
    void synchronize() const { MOE_CUDA_CHECK(cudaEventSynchronize(handle_)); }
    // Milliseconds from `start` to this event (both recorded and completed).
    float elapsed_ms_since(const event& start) const {
        float ms = 0.0f;
        MOE_CUDA_CHECK(cudaEventElapsedTime(&ms, start.handle_, handle_));
        return ms;
    }

   private:
    cudaEvent_t handle_ = nullptr;
};

// Number of CUDA devices, or 0 with the runtime's reason in `why` (no driver, no device, ...).
inline int device_count(const char** why = nullptr) {
    int count = 0;
    const cudaError_t code = cudaGetDeviceCount(&count);
    if (code != cudaSuccess) {
        if (why) *why = cudaGetErrorString(code);
        cudaGetLastError();  // clear the error so later calls do not report it
        return 0;
    }
    if (count == 0 && why) *why = "cudaGetDeviceCount reported 0 devices";
    return count;
}

}  // namespace moe::cuda
