# cmake/toolchains/aarch64-linux-gnu.cmake — cross-compile for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu
# and run the tests under qemu-user (the "arm64" presets; packages: g++-aarch64-linux-gnu qemu-user).
#
# The instruction sets come from the preset's CMAKE_CXX_FLAGS (-march=armv8.2-a+dotprod, ...), as on x86: the
# kernels pick their NEON paths from the compiler's predefined macros. qemu runs with `-cpu max`, which has every
# extension those flags can name (dotprod, bf16, i8mm).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# The target's libraries from the cross sysroot; Eigen, Catch2 and nlohmann_json are header-only, so their CMake
# packages are taken from the host (architecture-independent files under /usr/share and /usr/lib/cmake).
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# ctest runs each test through qemu; -L finds the target's dynamic loader and libstdc++.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu max)
