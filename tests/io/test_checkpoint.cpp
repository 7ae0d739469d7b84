// Checkpoints: a directory with model.safetensors, sharded checkpoints via model.safetensors.index.json, and
// broken indexes (each error names the index file, the tensor and the shard).
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "moe/io.hpp"
#include "safetensors_writer.hpp"

namespace test_checkpoint {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe_test;
using Catch::Matchers::Contains;

namespace {

tensor_spec f32(const std::string& name, std::vector<std::int64_t> shape, float start) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> values(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = start + static_cast<float>(i);
    return {name, "F32", std::move(shape), bytes_of(values)};
}

// Two shards and their index, as transformers' save_pretrained(max_shard_size=…) writes them.
void write_sharded(const temp_dir& dir) {
    write_safetensors(dir / "model-00001-of-00002.safetensors",
                      {f32("model.embed_tokens.weight", {4, 2}, 0.0f), f32("model.layers.0.mlp.gate.weight", {3, 2}, 100.0f)},
                      {{"format", "pt"}});
    write_safetensors(dir / "model-00002-of-00002.safetensors",
                      {f32("model.layers.0.mlp.experts.gate_up_proj", {3, 4, 2}, 200.0f),
                       {"model.layers.0.mlp.expert_ids", "I64", {3}, bytes_of(std::vector<std::int64_t>{0, 1, 2})},
                       f32("unlisted", {1}, 0.0f)},
                      {{"format", "pt"}});
    write_text(dir / "model.safetensors.index.json", R"({
  "metadata": {"total_size": 336},
  "weight_map": {
    "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
    "model.layers.0.mlp.gate.weight": "model-00001-of-00002.safetensors",
    "model.layers.0.mlp.experts.gate_up_proj": "model-00002-of-00002.safetensors",
    "model.layers.0.mlp.expert_ids": "model-00002-of-00002.safetensors"
  }
})");
}

void expect_checkpoint_error(const std::filesystem::path& path, std::initializer_list<std::string> pieces) {
    std::string message;
    try {
        const moe::io::checkpoint ckpt(path);
        FAIL("opened without error: " << path.string());
    } catch (const moe::io::checkpoint_error& error) {
        message = error.what();
    }
    INFO("message: " << message);
    for (const auto& piece : pieces) {
        INFO("expected piece: " << piece);
        CHECK(message.find(piece) != std::string::npos);
    }
}

}  // namespace

TEST_CASE("a directory with model.safetensors opens as a single-file checkpoint", "[io][checkpoint]") {
    temp_dir dir;
    write_safetensors(dir / "model.safetensors", {f32("a", {2, 2}, 1.0f), f32("b", {3}, 5.0f)}, {{"format", "pt"}});
    const moe::io::checkpoint ckpt(dir.path());
    CHECK_FALSE(ckpt.sharded());
    CHECK(ckpt.path() == dir.path().string());
    CHECK(ckpt.shards().size() == 1);
    CHECK(ckpt.tensor_names() == std::vector<std::string>{"a", "b"});
    CHECK(ckpt.metadata().at("format") == "pt");
    const auto a = moe::io::view_matrix<float>(ckpt.require("a"));
    CHECK(a(1, 1) == 4.0f);
    CHECK(ckpt.contains("b"));
    CHECK_FALSE(ckpt.find("c").has_value());
    REQUIRE_THROWS_WITH(ckpt.require("c"), Contains("model.safetensors") && Contains("missing tensor 'c'"));

    // The file itself works too.
    const moe::io::checkpoint direct(dir / "model.safetensors");
    CHECK(direct.tensor_names().size() == 2);
}

TEST_CASE("a sharded checkpoint finds each tensor in its shard", "[io][checkpoint]") {
    temp_dir dir;
    write_sharded(dir);
    const moe::io::checkpoint ckpt(dir.path());
    REQUIRE(ckpt.sharded());
    CHECK(ckpt.shards().size() == 2);
    CHECK(ckpt.tensor_names() == std::vector<std::string>{"model.embed_tokens.weight", "model.layers.0.mlp.expert_ids",
                                                          "model.layers.0.mlp.experts.gate_up_proj",
                                                          "model.layers.0.mlp.gate.weight"});
    const auto gate = ckpt.require("model.layers.0.mlp.gate.weight");
    CHECK(std::string(gate.file).ends_with("model-00001-of-00002.safetensors"));
    CHECK(moe::io::view_matrix<float>(gate)(2, 1) == 105.0f);

    const auto fused_ref = ckpt.require("model.layers.0.mlp.experts.gate_up_proj");
    CHECK(std::string(fused_ref.file).ends_with("model-00002-of-00002.safetensors"));
    const auto fused = moe::io::load_tensor<float>(fused_ref);
    CHECK(fused.in_place());
    CHECK(fused.matrix(1)(0, 0) == 208.0f);
    CHECK(moe::io::read_integers(ckpt.require("model.layers.0.mlp.expert_ids")) == std::vector<std::int64_t>{0, 1, 2});

    // In a shard but not in the weight_map: not part of the checkpoint.
    CHECK_FALSE(ckpt.contains("unlisted"));
    REQUIRE_THROWS_WITH(ckpt.require("nope"),
                        Contains("model.safetensors.index.json") && Contains("missing tensor 'nope'"));
    CHECK(ckpt.metadata().at("format") == "pt");

    // Opening the index file directly is the same checkpoint.
    const moe::io::checkpoint direct(dir / "model.safetensors.index.json");
    CHECK(direct.sharded());
    CHECK(direct.tensor_names().size() == 4);
}

TEST_CASE("checkpoint errors: a directory without model files", "[io][checkpoint]") {
    temp_dir dir;
    expect_checkpoint_error(dir.path(), {dir.path().string(), "neither model.safetensors nor model.safetensors.index.json"});
    expect_checkpoint_error(dir / "missing.safetensors", {"missing.safetensors", "cannot open"});
}

TEST_CASE("checkpoint errors: the index names a shard that does not exist", "[io][checkpoint]") {
    temp_dir dir;
    write_sharded(dir);
    std::filesystem::remove(dir / "model-00002-of-00002.safetensors");
    expect_checkpoint_error(dir.path(), {"model.safetensors.index.json", "tensor 'model.layers.0.mlp.expert",
                                         "shard 'model-00002-of-00002.safetensors' does not exist"});
}

TEST_CASE("checkpoint errors: the index lists a tensor its shard lacks", "[io][checkpoint]") {
    temp_dir dir;
    write_sharded(dir);
    write_text(dir / "model.safetensors.index.json", R"({"weight_map": {
        "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
        "model.layers.0.mlp.experts.gate_up_proj": "model-00001-of-00002.safetensors"}})");
    expect_checkpoint_error(dir.path(), {"model.safetensors.index.json",
                                         "tensor 'model.layers.0.mlp.experts.gate_up_proj' is listed in shard "
                                         "'model-00001-of-00002.safetensors' but is missing from that file"});
}

TEST_CASE("checkpoint errors: a malformed index", "[io][checkpoint]") {
    temp_dir dir;
    write_sharded(dir);
    const auto index = dir / "model.safetensors.index.json";
    write_text(index, "{\"weight_map\": {");
    expect_checkpoint_error(dir.path(), {"model.safetensors.index.json", "malformed JSON"});
    write_text(index, "[]");
    expect_checkpoint_error(dir.path(), {"model.safetensors.index.json", "JSON is an array, expected an object"});
    write_text(index, R"({"metadata": {}})");
    expect_checkpoint_error(dir.path(), {"model.safetensors.index.json", "missing 'weight_map'"});
    write_text(index, R"({"weight_map": ["a"]})");
    expect_checkpoint_error(dir.path(), {"model.safetensors.index.json", "'weight_map' is an array, expected an object"});
    write_text(index, R"({"weight_map": {}})");
    expect_checkpoint_error(dir.path(), {"model.safetensors.index.json", "'weight_map' is empty"});
    write_text(index, R"({"weight_map": {"model.embed_tokens.weight": 1}})");
    expect_checkpoint_error(dir.path(), {"model.safetensors.index.json", "tensor 'model.embed_tokens.weight'",
                                         "shard is a number, expected a file name"});
    write_text(index, R"({"weight_map": {"w": "/etc/passwd"}})");
    expect_checkpoint_error(dir.path(), {"tensor 'w'", "must be a file name relative to the index"});
}

TEST_CASE("checkpoint errors: a corrupt shard is reported with the shard's name", "[io][checkpoint]") {
    temp_dir dir;
    write_sharded(dir);
    write_raw(dir / "model-00002-of-00002.safetensors",
              R"({"model.layers.0.mlp.expert_ids": {"dtype": "I64", "shape": [3], "data_offsets": [0, 24]}})",
              std::vector<std::byte>(16));
    expect_checkpoint_error(dir.path(), {"model-00002-of-00002.safetensors", "tensor 'model.layers.0.mlp.expert_ids'",
                                         "data offsets [0, 24) run past the data section (16 bytes)"});
}

TEST_CASE("file_memory::huge_pages holds the same bytes as the mapping, read-only and in place", "[io][checkpoint]") {
    temp_dir dir;
    write_sharded(dir);
    const moe::io::checkpoint mapped(dir.path());
    const moe::io::checkpoint read(dir.path(), moe::io::file_memory::huge_pages);
    REQUIRE(read.tensor_names() == mapped.tensor_names());
    for (const auto& name : mapped.tensor_names()) {
        const auto a = mapped.require(name), b = read.require(name);
        INFO(name);
        REQUIRE(a.bytes.size() == b.bytes.size());
        CHECK(std::equal(a.bytes.begin(), a.bytes.end(), b.bytes.begin()));
        CHECK(a.bytes.data() != b.bytes.data());  // its own copy, not the file mapping
    }
    // Weights are still used in place (no conversion copy) from the read-in bytes.
    const auto fused = moe::io::load_tensor<float>(read.require("model.layers.0.mlp.experts.gate_up_proj"));
    CHECK(fused.in_place());
    CHECK(fused.matrix(1)(0, 0) == 208.0f);
    // Large files too: a 5 MiB tensor spans whole huge pages and a partial one.
    std::vector<float> big(5 * 1024 * 256 + 3);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i % 1000);
    write_safetensors(dir / "big.safetensors", {{"big", "F32", {static_cast<std::int64_t>(big.size())}, bytes_of(big)}}, {});
    const moe::io::checkpoint big_read(dir / "big.safetensors", moe::io::file_memory::huge_pages);
    const auto loaded = moe::io::load_tensor<float>(big_read.require("big"));
    REQUIRE(loaded.numel() == static_cast<std::int64_t>(big.size()));
    CHECK(std::equal(big.begin(), big.end(), loaded.span().begin()));
    // Errors are the same: a missing file names itself.
    REQUIRE_THROWS_WITH(moe::io::checkpoint(dir / "absent.safetensors", moe::io::file_memory::huge_pages),
                        Contains("absent.safetensors"));
}

}  // namespace test_checkpoint
