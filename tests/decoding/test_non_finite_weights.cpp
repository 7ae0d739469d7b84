// Non-finite weights (issue 13) on a copy of models/tiny-reasoner with one value made NaN or infinite:
//   - in a tensor that is cheap to scan (a norm, a router gate, the embedding, the LM head) loading fails with a
//     checkpoint_error naming the file, the tensor, the count and the first element's row and column;
//   - in a matrix that is not scanned at load (an attention projection), the first sampled token fails with
//     non_finite_logits instead of generation degrading into repeated tokens.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include "moe/decoding.hpp"
#include "moe/io.hpp"
#include "moe/models.hpp"
#include "moe/models/tiny_reasoner.hpp"
#include "moe/text.hpp"

namespace test_non_finite_weights {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace fs = std::filesystem;
using model_type = moe::cpu::tiny_reasoner;

namespace {

// A copy of the tiny reasoner whose tensor `name` has `value` at flat element `element`.
class patched_copy {
   public:
    patched_copy(const std::string& name, std::int64_t element, float value) {
        static int counter = 0;
        dir_ = fs::temp_directory_path() / ("moe-nonfinite-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::remove_all(dir_);
        fs::copy(MOE_TINY_REASONER_DIR, dir_);
        std::uint64_t offset = 0;
        {
            const moe::io::safetensors_file file((dir_ / "model.safetensors").string());
            const auto ref = file.require(name);
            REQUIRE(ref.dtype() == moe::io::dtype::f32);
            const std::uint64_t data_start = fs::file_size(dir_ / "model.safetensors") - file.data().size();
            offset = data_start + static_cast<std::uint64_t>(ref.bytes.data() - file.data().data()) +
                     std::uint64_t(element) * 4;
        }
        std::fstream f(dir_ / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(offset));
        f.write(reinterpret_cast<const char*>(&value), sizeof value);
    }
    ~patched_copy() {
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }
    std::string path() const { return dir_.string(); }

   private:
    fs::path dir_;
};

std::string load_error(const std::string& dir) {
    try {
        (void)moe::load_model<model_type>(dir);
    } catch (const moe::io::checkpoint_error& e) {
        return e.what();
    }
    return "no exception";
}

constexpr float nan_value = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_value = std::numeric_limits<float>::infinity();

}  // namespace

TEST_CASE("NaN or infinity in a norm, router, embedding or LM head is refused at load, naming it", "[decoding][non_finite]") {
    struct item {
        std::string tensor;
        std::int64_t element;
        float value;
        std::string where;
    };
    const std::vector<item> items{
        {"model.layers.1.post_attention_layernorm.weight", 5, nan_value, "1 of 128 values are NaN or infinite (first at element 5, row 0 column 5)"},
        {"model.layers.0.self_attn.q_norm.weight", 31, -inf_value, "1 of 32 values"},
        {"model.norm.weight", 0, inf_value, "1 of 128 values"},
        {"model.layers.2.mlp.gate.weight", 3 * 128 + 9, nan_value, "1 of 1024 values are NaN or infinite (first at element 393, row 3 column 9)"},
        {"model.embed_tokens.weight", 200 * 128 + 1, nan_value, "row 200 column 1"},
        {"lm_head.weight", 7 * 128, inf_value, "row 7 column 0"},
    };
    for (const item& it : items) {
        const patched_copy copy(it.tensor, it.element, it.value);
        const std::string m = load_error(copy.path());
        INFO(m);
        CHECK(m.find("model.safetensors: tensor '" + it.tensor + "'") != std::string::npos);
        CHECK(m.find(it.where) != std::string::npos);
    }
}

TEST_CASE("NaN in a matrix not scanned at load stops generation at the first token", "[decoding][non_finite]") {
    const patched_copy copy("model.layers.0.self_attn.o_proj.weight", 0, nan_value);
    auto model = moe::load_model<model_type>(copy.path());  // loads: projections are not scanned
    const auto tok = moe::text::tokenizer::from_file(copy.path() + "/tokenizer.json");
    const std::vector<std::int32_t> prompt = tok.encode("12+34", false);
    moe::thread_pool pool(1);
    moe::decoding::generation_options o;
    o.sampler = moe::decoding::sampler_config::greedy();
    o.max_tokens = 8;
    std::string m = "no exception";
    try {
        (void)moe::decoding::generate(model, tok, prompt, o, pool);
    } catch (const moe::decoding::non_finite_logits& e) {
        m = e.what();
    }
    INFO(m);
    CHECK(m.find("generate: branch 0, generated token 0 (position " + std::to_string(prompt.size()) + " of the sequence)") !=
          std::string::npos);
    CHECK(m.find("276 of 276 logits are not finite") != std::string::npos);
}

}  // namespace test_non_finite_weights
