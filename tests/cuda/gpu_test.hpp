// tests/cuda/gpu_test.hpp — a minimal harness for the GPU tests (one per executable, main included).
//
// Without a CUDA device every test executable prints "SKIPPED: no CUDA device (<reason>)" and exits with 77,
// which ctest reports as skipped (SKIP_RETURN_CODE 77). Catch2 is not used here: nvcc would compile its 17k-line
// header into every GPU test for little gain.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "moe/cuda/memory.hpp"

namespace moe_gpu_test {

struct test_case {
    const char* name;
    void (*run)();
};
inline std::vector<test_case>& registry() {
    static std::vector<test_case> tests;
    return tests;
}
struct registrar {
    registrar(const char* name, void (*run)()) { registry().push_back({name, run}); }
};
inline int& failures() {
    static int count = 0;
    return count;
}
inline void fail(const char* file, int line, const std::string& what) {
    ++failures();
    std::printf("  FAILED %s:%d: %s\n", file, line, what.c_str());
}

// Error statistics of `actual` against `expected`: max |Δ|, RMS(Δ), max |expected|, RMS(expected).
struct error_stats {
    double max_abs = 0, rms = 0, max_ref = 0, rms_ref = 0;
};
template <class A, class B>
error_stats compare(const A& actual, const B& expected) {
    error_stats s;
    double sum = 0, sum_ref = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const double d = std::fabs(double(actual[i]) - double(expected[i]));
        s.max_abs = std::isnan(d) || d > s.max_abs ? d : s.max_abs;
        sum += d * d;
        sum_ref += double(expected[i]) * double(expected[i]);
        s.max_ref = std::max(s.max_ref, std::fabs(double(expected[i])));
    }
    const double n = expected.empty() ? 1.0 : double(expected.size());
    s.rms = std::sqrt(sum / n);
    s.rms_ref = std::sqrt(sum_ref / n);
    return s;
}

}  // namespace moe_gpu_test

#define GPU_TEST(name)                                                     \
    static void name();                                                    \
    static const moe_gpu_test::registrar name##_registrar{#name, &name}; \
    static void name()

#define GPU_CHECK(condition, message)                                                            \
    do {                                                                                         \
        if (!(condition)) moe_gpu_test::fail(__FILE__, __LINE__, std::string(#condition) + " — " + (message)); \
    } while (0)

int main() {
    const char* why = "";
    if (moe::cuda::device_count(&why) == 0) {
        std::printf("SKIPPED: no CUDA device (%s)\n", why);
        return 77;
    }
    cudaDeviceProp prop{};
    MOE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    for (const auto& test : moe_gpu_test::registry()) {
        const int before = moe_gpu_test::failures();
        try {
            test.run();
        } catch (const std::exception& e) {
            moe_gpu_test::fail(__FILE__, __LINE__, std::string("exception: ") + e.what());
        }
        std::printf("%s %s\n", moe_gpu_test::failures() == before ? "PASS" : "FAIL", test.name);
    }
    std::printf("%d failure(s)\n", moe_gpu_test::failures());
    return moe_gpu_test::failures() == 0 ? 0 : 1;
}
