// moe/macros.hpp — the few macros the library needs (all prefixed MOE_).
#pragma once

#if defined(__CUDACC__)
#define MOE_HOST_DEVICE __host__ __device__
#else
#define MOE_HOST_DEVICE
#endif
