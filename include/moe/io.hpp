// moe/io.hpp — checkpoint reading: safetensors files (memory-mapped, validated) and sharded Hugging Face checkpoints.
// Needs nlohmann_json (the moe::io CMake target) and a POSIX system (mmap).
#pragma once

#include "moe/core.hpp"
#include "moe/io/checkpoint.hpp"
#include "moe/io/checkpoint_error.hpp"
#include "moe/io/dtype.hpp"
#include "moe/io/ggml_type.hpp"
#include "moe/io/gguf_file.hpp"
#include "moe/io/gguf_parse.hpp"
#include "moe/io/gguf_value.hpp"
#include "moe/io/gguf_view.hpp"
#include "moe/io/mapped_file.hpp"
#include "moe/io/safetensors_file.hpp"
#include "moe/io/safetensors_parse.hpp"
#include "moe/io/safetensors_view.hpp"
#include "moe/io/tensor_info.hpp"
#include "moe/io/tensor_read.hpp"
