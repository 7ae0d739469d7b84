// A DeepSeek-V3-class checkpoint laid out as DeepSeek's fp8 release is (tests/data/fp8/deepseek_v3_fp8, made by
// tools/make_fp8_reference.py: F8_E4M3 matrices + F32 `_scale_inv` 128 × 128 block scales, BF16 embedding, LM head,
// norms and router, quantization_config fp8/e4m3/[128, 128]) through the real loader, against transformers 5.24
// run in fp32 on the dequantized weights (weight.float() · scale, DeepSeek's weight_dequant):
//   - weight_format::fp8_e4m3 (codes kept, scales applied per 128-weight block in the products; the BF16
//     embedding and LM head quantized at load with DeepSeek's rule per 128 values of a row) against the reference
//     whose embedding and LM head are quantized the same way: within 1e-5 · max |logit| (fp32 order only: measured
//     8e-7); and
//     against the reference with the BF16 embedding / LM head as they are: within 0.1 · max |logit| (the
//     quantization of those two matrices: the references differ by 0.19 of max |logit| 3.2);
//   - weight_format::fp32 (dequantized at load): within 1e-5 · max |logit| of the dequantized reference;
//     weight_format::bf16: the dequantized weights rounded to bf16, within 2e-2 · max |logit|;
//   - damaged files, each refused with a message naming the tensor or the config field.
// Prefill (GEMM tiles) of each sequence, and sequence 1 token by token (decode tiles) through the KV cache.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "../io/safetensors_writer.hpp"
#include "moe/io.hpp"
#include "moe/models.hpp"
#include "reference_logits.hpp"

namespace test_fp8_checkpoint {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe_test::max_abs;
using moe_test::max_abs_diff;

constexpr moe::deepseek_v3_config fp8_card(moe::weight_format weights) {
    return {.vocab_size = 48, .model_width = 256, .layers = 2, .heads = 2, .q_lora_rank = 128, .kv_lora_rank = 128,
            .qk_nope_head_dim = 32, .qk_rope_head_dim = 16, .v_head_dim = 64, .dense_layers = 1, .dense_width = 128,
            .expert_width = 128, .experts = 4, .top_k = 2, .shared_experts = 1, .groups = 2, .top_k_groups = 1,
            .norm_topk_prob = true, .weights = weights};
}
using fp8_model = moe::cpu::deepseek_v3<fp8_card(moe::weight_format::fp8_e4m3)>;
using fp32_model = moe::cpu::deepseek_v3<fp8_card(moe::weight_format::fp32)>;
using bf16_model = moe::cpu::deepseek_v3<fp8_card(moe::weight_format::bf16)>;
constexpr std::int64_t V = 48;

std::string checkpoint_dir() { return std::string(MOE_TEST_DATA_DIR) + "/fp8/deepseek_v3_fp8"; }

struct reference {
    std::vector<std::vector<std::int32_t>> tokens;
    std::vector<moe::host_matrix<float>> dequant, fp8;  // per sequence (len, V)
};

reference read_reference() {
    const moe::io::safetensors_file file(checkpoint_dir() + "/reference.safetensors");
    reference r;
    for (int s = 0; s < 3; ++s) {
        const auto ids = moe::io::read_integers(file.require("tokens_" + std::to_string(s)));
        r.tokens.emplace_back(ids.begin(), ids.end());
        r.dequant.push_back(moe::io::copy_matrix<float>(file.require("logits_dequant_" + std::to_string(s))));
        r.fp8.push_back(moe::io::copy_matrix<float>(file.require("logits_fp8_" + std::to_string(s))));
        REQUIRE(r.fp8.back().rows() == static_cast<std::int64_t>(ids.size()));
        REQUIRE(r.fp8.back().cols() == V);
    }
    return r;
}

// Prefill of every sequence and sequence 1 token by token, each within tolerance · max |logit| of `want`.
template <class Model>
void check_logits(Model& model, const reference& ref, const std::vector<moe::host_matrix<float>>& want,
                  double tolerance, const char* what) {
    moe::cpu::thread_pool pool(2);
    for (int s = 0; s < 3; ++s) {
        auto seq = model.new_sequence(32);
        moe::host_matrix<float> logits(static_cast<std::int64_t>(ref.tokens[static_cast<std::size_t>(s)].size()), V);
        model.forward(ref.tokens[static_cast<std::size_t>(s)], seq, logits.view(), pool);
        const double error = max_abs_diff(logits.view(), want[static_cast<std::size_t>(s)].view());
        const double scale = max_abs(want[static_cast<std::size_t>(s)].view());
        INFO(what << ": prefill of sequence " << s << ", max error " << error << " (max |logit| " << scale << ")");
        CHECK(error <= tolerance * scale);
    }
    auto seq = model.new_sequence(32);
    const auto& tokens = ref.tokens[1];
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        moe::host_matrix<float> logits(1, V);
        model.forward(std::vector<std::int32_t>{tokens[i]}, seq, logits.view(), pool);
        const moe::matrix_view<const float> row{want[1].row(static_cast<std::int64_t>(i)), 1, V};
        const double error = max_abs_diff(logits.view(), row);
        INFO(what << ": decode step " << i << " of sequence 1, max error " << error);
        CHECK(error <= tolerance * max_abs(want[1].view()));
    }
}

TEST_CASE("DeepSeek-V3 fp8 checkpoint into weight_format::fp8_e4m3 matches transformers", "[models][fp8]") {
    const auto ref = read_reference();
    auto model = moe::load_model<fp8_model>(checkpoint_dir());
    check_logits(model, ref, ref.fp8, 1e-5, "fp8_e4m3 vs embedding/LM head quantized alike");
    check_logits(model, ref, ref.dequant, 0.1, "fp8_e4m3 vs BF16 embedding/LM head");
}

TEST_CASE("DeepSeek-V3 fp8 checkpoint dequantized at load into fp32 and bf16 models", "[models][fp8]") {
    const auto ref = read_reference();
    auto fp32 = moe::load_model<fp32_model>(checkpoint_dir());
    check_logits(fp32, ref, ref.dequant, 1e-5, "fp32");
    auto bf16 = moe::load_model<bf16_model>(checkpoint_dir());
    check_logits(bf16, ref, ref.dequant, 2e-2, "bf16");
}

// ---- damaged files ----

// The checkpoint's tensors as writer specs, to edit and write again.
std::vector<moe_test::tensor_spec> checkpoint_tensors() {
    const moe::io::safetensors_file file(checkpoint_dir() + "/model.safetensors");
    std::vector<moe_test::tensor_spec> specs;
    for (const auto& info : file.tensors()) {
        const auto ref = file.require(info.name);
        specs.push_back({info.name, std::string(moe::io::name_of(info.dtype)), info.shape,
                         std::vector<std::byte>(ref.bytes.begin(), ref.bytes.end())});
    }
    return specs;
}

moe_test::tensor_spec& find(std::vector<moe_test::tensor_spec>& specs, const std::string& name) {
    const auto it = std::find_if(specs.begin(), specs.end(), [&](const auto& s) { return s.name == name; });
    REQUIRE(it != specs.end());
    return *it;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes the checkpoint edited by `edit` (and config.json by `edit_config`) and returns the load error of Model.
template <class Model>
std::string load_error(const std::function<void(std::vector<moe_test::tensor_spec>&)>& edit,
                       const std::function<void(std::string&)>& edit_config = {}) {
    moe_test::temp_dir dir;
    auto specs = checkpoint_tensors();
    edit(specs);
    moe_test::write_safetensors(dir / "model.safetensors", specs);
    std::string config = read_text(checkpoint_dir() + "/config.json");
    if (edit_config) edit_config(config);
    moe_test::write_text(dir / "config.json", config);
    try {
        (void)moe::load_model<Model>(dir.path());
    } catch (const moe::error& e) {
        return e.what();
    }
    return "(loaded)";
}

const std::string q_a = "model.layers.0.self_attn.q_a_proj.weight";

void set_scale(std::vector<moe_test::tensor_spec>& specs, std::size_t index, float value) {
    auto& scale = find(specs, q_a + "_scale_inv");
    std::memcpy(scale.bytes.data() + index * sizeof(float), &value, sizeof(float));
}

TEST_CASE("damaged fp8 checkpoints are refused with the tensor or field named", "[models][fp8]") {
    using Catch::Matchers::Contains;
    const auto no_edit = [](std::vector<moe_test::tensor_spec>&) {};
    CHECK(load_error<fp8_model>(no_edit) == "(loaded)");  // the rewritten file itself loads

    // The scales missing: into the fp8 model and into an fp32 model (which would dequantize with them).
    const auto drop_scale = [](std::vector<moe_test::tensor_spec>& specs) {
        std::erase_if(specs, [](const auto& s) { return s.name == q_a + "_scale_inv"; });
    };
    for (const auto& e : {load_error<fp8_model>(drop_scale), load_error<fp32_model>(drop_scale)}) {
        CHECK_THAT(e, Contains("tensor '" + q_a + "'") && Contains("is F8_E4M3 but its block scales '" + q_a +
                                                                   "_scale_inv' are not in the checkpoint"));
    }
    // Wrong scale shape: (2, 2) for a (128, 256) weight, which has (1, 2) blocks.
    const auto e_shape = load_error<fp8_model>([](auto& specs) {
        auto& s = find(specs, q_a + "_scale_inv");
        s.shape = {2, 1};
    });
    CHECK_THAT(e_shape, Contains("tensor '" + q_a + "_scale_inv'") && Contains("has shape (2, 1), expected (1, 2)"));
    // Wrong scale dtype.
    const auto e_dtype = load_error<fp8_model>([](auto& specs) {
        auto& s = find(specs, q_a + "_scale_inv");
        s.dtype = "I32";
    });
    CHECK_THAT(e_dtype, Contains("is I32, expected F32 block scales of '" + q_a + "'"));
    // Non-finite and negative scales.
    CHECK_THAT(load_error<fp8_model>([](auto& specs) { set_scale(specs, 1, NAN); }),
               Contains("tensor '" + q_a + "_scale_inv'") && Contains("scale (0, 1) is nan") &&
                   Contains("expected a finite scale"));
    CHECK_THAT(load_error<fp32_model>([](auto& specs) { set_scale(specs, 0, INFINITY); }),
               Contains("scale (0, 0) is inf"));
    CHECK_THAT(load_error<fp8_model>([](auto& specs) { set_scale(specs, 0, -1.0f); }), Contains("scale (0, 0) is -1"));
    // A NaN code among the weights.
    CHECK_THAT(load_error<fp8_model>([](auto& specs) { find(specs, q_a).bytes[300] = std::byte{0xFF}; }),
               Contains("tensor '" + q_a + "'") && Contains("1 of 32768 values are NaN (first at row 1 column 44)"));
    // F8_E5M2 weights.
    CHECK_THAT(load_error<fp8_model>([](auto& specs) { find(specs, q_a).dtype = "F8_E5M2"; }),
               Contains("tensor '" + q_a + "'") && Contains("is F8_E5M2, which is not supported"));
    // quantization_config with 64 × 64 blocks, and another quant_method.
    const auto block_64 = [](std::string& config) {
        const auto at = config.find("\"weight_block_size\"");
        REQUIRE(at != std::string::npos);
        const auto open = config.find('[', at), close = config.find(']', at);
        config.replace(open, close - open + 1, "[64, 64]");
    };
    CHECK_THAT(load_error<fp8_model>(no_edit, block_64),
               Contains("config.json") && Contains("quantization_config.weight_block_size is [64, 64]") &&
                   Contains("supported: quant_method \"fp8\""));
    CHECK_THAT(load_error<fp32_model>(no_edit,
                                      [](std::string& config) {
                                          const auto at = config.find("\"fp8\"");
                                          REQUIRE(at != std::string::npos);
                                          config.replace(at, 5, "\"gptq\"");
                                      }),
               Contains("quantization_config.quant_method is \"gptq\""));
}

}  // namespace

}  // namespace test_fp8_checkpoint
