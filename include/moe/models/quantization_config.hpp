// moe/models/quantization_config.hpp — config.json's quantization_config: absent, or the fp8 block format of
// DeepSeek-V3/R1's released checkpoints.
//
// DeepSeek-V3/R1 write
//   "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
//                           "weight_block_size": [128, 128]}
// and store the quantized matrices as F8_E4M3 with F32 `<name>_scale_inv` block scales (io/fp8_blocks.hpp reads
// them into any weight format). Accepted: exactly that (fmt, activation_scheme and weight_block_size may be
// absent: transformers' defaults are the same; scale_fmt "float", or "ue8m0" — DeepSeek-V3.1's scales rounded to
// powers of two, still F32). Anything else — another quant_method (gptq, awq, …), fmt e5m2, static activation
// scales, other block sizes — is recorded as a mismatch with what was found, and the load fails with the rest of
// the config's problems. Activations are not quantized whatever the scheme: products run in fp32.
#pragma once

#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

#include "moe/excerpt.hpp"
#include "moe/models/hf_config.hpp"

namespace moe::loading {

namespace detail {
// A JSON value as the message shows it: strings quoted and capped, numbers as written, containers by kind.
inline std::string quantization_value(const nlohmann::json& v) {
    if (v.is_string()) return "\"" + moe::excerpt(v.get_ref<const std::string&>(), 40) + "\"";
    if (v.is_number() || v.is_boolean() || v.is_null()) return v.dump();
    if (v.is_array()) return "an array of " + std::to_string(v.size());
    return "an object";
}
}  // namespace detail

// Records every problem of c's quantization_config (nothing when it is absent or null).
inline void check_quantization_config(hf_config& c) {
    const auto& json = c.json();
    const auto it = json.find("quantization_config");
    if (it == json.end() || it->is_null()) return;
    const std::string supported =
        " — supported: quant_method \"fp8\", fmt \"e4m3\", activation_scheme \"dynamic\", weight_block_size "
        "[128, 128] (DeepSeek-V3/R1's fp8 checkpoints)";
    if (!it->is_object()) return c.record("quantization_config is " + detail::quantization_value(*it) + supported);
    const auto& q = *it;
    // A string field that must be one of `allowed` (absent: `required` says whether that is a problem).
    const auto expect = [&](const char* key, std::initializer_list<const char*> allowed, bool required) {
        const auto f = q.find(key);
        if (f == q.end() || f->is_null()) {
            if (required) c.record(std::string("quantization_config.") + key + " is missing" + supported);
            return;
        }
        if (f->is_string())
            for (const char* a : allowed)
                if (f->get_ref<const std::string&>() == a) return;
        c.record(std::string("quantization_config.") + key + " is " + detail::quantization_value(*f) + supported);
    };
    expect("quant_method", {"fp8"}, true);
    expect("fmt", {"e4m3"}, false);
    expect("activation_scheme", {"dynamic"}, false);
    expect("scale_fmt", {"float", "ue8m0"}, false);
    const auto block = q.find("weight_block_size");
    if (block != q.end() && !block->is_null()) {
        const bool ok = block->is_array() && block->size() == 2 && (*block)[0].is_number_integer() &&
                        (*block)[1].is_number_integer() && (*block)[0].get<long long>() == 128 &&
                        (*block)[1].get<long long>() == 128;
        if (!ok) {
            std::string found = detail::quantization_value(*block);
            if (block->is_array() && block->size() <= 4) {  // short: show it as written, each element capped
                found = "[";
                for (std::size_t i = 0; i < block->size(); ++i)
                    found += (i ? ", " : "") + detail::quantization_value((*block)[i]);
                found += "]";
            }
            c.record("quantization_config.weight_block_size is " + found + supported);
        }
    }
}

}  // namespace moe::loading
