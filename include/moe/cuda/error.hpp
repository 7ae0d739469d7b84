// moe/cuda/error.hpp — every CUDA runtime call is checked; a failure throws moe::cuda::cuda_error.
//
//   MOE_CUDA_CHECK(cudaMemcpyAsync(...));
//   → throws cuda_error("cudaMemcpyAsync(...) failed at moe_layer.hpp:42: invalid argument (cudaErrorInvalidValue)")
//
// Also: cuda::launch_error for configurations refused on the host before any launch (can_implement), and
// MOE_CUDA_CHECK_LAUNCH() after each <<<>>> to report a bad launch configuration at its source line.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "moe/error.hpp"

namespace moe::cuda {

// A CUDA runtime call returned an error. code() is the cudaError_t.
class cuda_error : public error_with<std::runtime_error> {
   public:
    cuda_error(cudaError_t code, const char* call, const char* file, int line)
        : error_with(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                     cudaGetErrorString(code) + " (" + cudaGetErrorName(code) + ")"),
          code_(code) {}
    cudaError_t code() const { return code_; }

   private:
    cudaError_t code_;
};

// A launch the backend refuses before launching: workspace too small, misaligned pointer, unsupported shape.
class launch_error : public error_with<std::invalid_argument> {
   public:
    using error_with::error_with;
};

namespace detail {
inline void check(cudaError_t code, const char* call, const char* file, int line) {
    if (code != cudaSuccess) throw cuda_error(code, call, file, line);
}
}  // namespace detail

}  // namespace moe::cuda

#define MOE_CUDA_CHECK(call) ::moe::cuda::detail::check((call), #call, __FILE__, __LINE__)
// After a kernel launch: reports an invalid launch configuration (not asynchronous faults) where it happened.
#define MOE_CUDA_CHECK_LAUNCH() ::moe::cuda::detail::check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
