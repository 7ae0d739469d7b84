// moe/models/gguf/architectures.hpp — the GGUF architectures the family types read, one file each, and what the
// loader needs of a GGUF file for a family: its config (gguf_config.hpp) and its tensors (gguf_tensors.hpp); and,
// at run time, which family a file is (family_of).
//
//   llama (with experts) → mixtral      qwen2moe → qwen2_moe      qwen3moe → qwen3_moe
//   olmoe → olmoe                       deepseek2 → deepseek_v2 (softmax) and deepseek_v3 (sigmoid + bias)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/gguf/deepseek2.hpp"
#include "moe/models/gguf/gguf_config.hpp"
#include "moe/models/gguf/gguf_tensors.hpp"
#include "moe/models/gguf/llama.hpp"
#include "moe/models/gguf/olmoe.hpp"
#include "moe/models/gguf/qwen2moe.hpp"
#include "moe/models/gguf/qwen3moe.hpp"

namespace moe::gguf {

// The tensors of `file` for a model of `Family` (whose config has been checked: the layout is read from it).
template <model_family Family>
std::shared_ptr<tensor_source> tensors_of(std::shared_ptr<const io::gguf_file> file) {
    const auto& f = *file;
    const std::string arch = f.optional_string("general.architecture").value_or("");
    const auto get = [&](const char* suffix) { return f.optional_integer(arch + "." + suffix).value_or(0); };
    tensor_layout layout{.moe_names = checkpoint_conventions<Family>::moe_names,
                         .permuted_qk = gguf_conventions<Family>::permuted_qk,
                         .heads = get("attention.head_count"),
                         .kv_heads = f.optional_integer(arch + ".attention.head_count_kv").value_or(get("attention.head_count"))};
    const bool mla_keys = f.contains(arch + ".attention.key_length_mla");
    layout.qk_nope_head_dim = get(mla_keys ? "attention.key_length_mla" : "attention.key_length") - get("rope.dimension_count");
    layout.v_head_dim = get(mla_keys ? "attention.value_length_mla" : "attention.value_length");
    return std::make_shared<tensor_source>(std::move(file), layout);
}

// The family type that reads `file`, decided at run time from general.architecture by the families' own
// gguf_conventions<F>::matches (the table above), for tools that print a type rather than check one (moe_card).
// deepseek2 is both DeepSeek families: expert_gating_func 2 (sigmoid) is deepseek_v3, else (1, absent: llama.cpp's
// softmax) deepseek_v2. A `llama` file without llama.expert_count is a dense Llama. Throws config_error naming the
// file and the architecture.
inline model_family family_of(const io::gguf_file& file) {
    std::string arch;
    try {
        arch = file.optional_string("general.architecture").value_or("");
    } catch (const io::gguf_error& e) {
        throw config_error(e.what());
    }
    const auto reads = [&]<model_family F>() { return gguf_conventions<F>::matches(file, arch); };
    if (reads.template operator()<model_family::deepseek_v2>() || reads.template operator()<model_family::deepseek_v3>()) {
        return file.optional_integer(arch + ".expert_gating_func").value_or(1) == 2 ? model_family::deepseek_v3
                                                                                     : model_family::deepseek_v2;
    }
    if (reads.template operator()<model_family::mixtral>()) {
        if (!file.contains(arch + ".expert_count")) {
            throw config_error(file.path() + ": general.architecture is \"" + excerpt(arch) + "\" without " + arch +
                               ".expert_count: a dense model, not a mixture of experts");
        }
        return model_family::mixtral;
    }
    if (reads.template operator()<model_family::qwen2_moe>()) return model_family::qwen2_moe;
    if (reads.template operator()<model_family::qwen3_moe>()) return model_family::qwen3_moe;
    if (reads.template operator()<model_family::olmoe>()) return model_family::olmoe;
    throw config_error(file.path() + ": general.architecture is \"" + excerpt(arch) +
                       "\", not one moe reads (llama with experts, qwen2moe, qwen3moe, olmoe, deepseek2)");
}

}  // namespace moe::gguf
