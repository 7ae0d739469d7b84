// Untrusted files (issue 13, "Special files" and "Path traversal"): a FIFO, a device or a directory where a checkpoint
// file, config.json, tokenizer.json or tokenizer_config.json is expected is a clear library error naming the path —
// never a hang, never a raw std::ios_base::failure — and a shard named by model.safetensors.index.json must resolve
// inside the checkpoint directory; otherwise the error names the shard and shows nothing of the file it points at.
//
// Every load runs in a std::async and must finish within 10 s: without the fix, opening a FIFO blocks forever. On a
// timeout the test opens the FIFO's write end once (which releases a reader blocked in open) before failing; the
// ctest TIMEOUT property (tests/io/CMakeLists.txt) is the last guard.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <type_traits>
#include <vector>

#include "moe/error.hpp"
#include "moe/io.hpp"
#include "moe/models/hf_config.hpp"
#include "moe/text/tokenizer.hpp"
#include "safetensors_writer.hpp"

namespace test_hostile_files {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe_test;

namespace {

namespace fs = std::filesystem;

const std::string minimal_tokenizer =
    R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})";
const std::string secret = "SECRET-FOREIGN-BYTES";

void make_fifo(const fs::path& path) { REQUIRE(::mkfifo(path.c_str(), 0600) == 0); }

// Runs `load` (which must throw) on another thread; returns the message of the `Expected` error it threw (a moe::error
// of the layer: checkpoint_error, config_error, tokenizer_error). Fails if it does not finish within 10 s, if it
// returns, or if it throws anything else (a raw std::ios_base::failure, another library type).
template <class Expected>
std::string load_error(const std::function<void()>& load, const fs::path& fifo_to_release = {}) {
    static_assert(std::is_base_of_v<moe::error, Expected>);
    auto result = std::async(std::launch::async, [&]() -> std::string {
        try {
            load();
        } catch (const Expected& error) {
            return std::string("moe::error: ") + error.what();
        } catch (const moe::error& error) {
            return std::string("another library type: ") + error.what();
        } catch (const std::exception& error) {
            return std::string("foreign exception: ") + error.what();
        }
        return "no exception";
    });
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
        if (!fifo_to_release.empty()) {  // release a reader blocked in open(), so the future can be joined
            const int fd = ::open(fifo_to_release.c_str(), O_WRONLY | O_NONBLOCK);
            if (fd >= 0) ::close(fd);
        }
        FAIL_CHECK("the load did not finish within 10 s");
        if (result.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
            std::fprintf(stderr, "the load is still blocked (reading a device?): giving up\n");
            std::_Exit(1);  // the thread cannot be joined; no point waiting for the ctest TIMEOUT
        }
    }
    std::string message = result.get();
    INFO("message: " << message);
    REQUIRE(message.rfind("moe::error: ", 0) == 0);
    return message.substr(12);
}

void load_checkpoint(const fs::path& path) { const moe::io::checkpoint checkpoint(path); }
void load_checkpoint_huge_pages(const fs::path& path) {
    const moe::io::checkpoint checkpoint(path, moe::io::file_memory::huge_pages);
}

// A file that, read as a safetensors shard, would make the header parser echo `secret` (a malformed JSON header
// whose last token is the secret), standing for any private file outside the checkpoint.
void write_foreign_file(const fs::path& path) {
    const std::string header = "{\"" + secret;
    std::string bytes(8, '\0');
    bytes[0] = static_cast<char>(header.size());
    write_text(path, bytes + header);
}

// A one-shard index listing tensor 'w' in `shard`.
void write_index(const fs::path& directory, const std::string& shard) {
    nlohmann::json index;
    index["weight_map"]["w"] = shard;
    write_text(directory / "model.safetensors.index.json", index.dump());
}

tensor_spec small_tensor() { return {"w", "F32", {2}, bytes_of(std::vector<float>{1.0f, 2.0f})}; }

}  // namespace

// ---- special files ----

TEST_CASE("a FIFO as model.safetensors is a checkpoint_error naming it, not a hang", "[io][hostile]") {
    temp_dir dir;
    make_fifo(dir / "model.safetensors");
    for (auto load : {load_checkpoint, load_checkpoint_huge_pages}) {
        const auto message = load_error<moe::io::checkpoint_error>([&] { load(dir.path()); }, dir / "model.safetensors");
        CHECK_THAT(message, Catch::Contains((dir / "model.safetensors").string()) &&
                                Catch::Contains("is a FIFO, not a regular file"));
    }
}

TEST_CASE("a FIFO as a shard or as the index is a checkpoint_error naming it", "[io][hostile]") {
    temp_dir dir;
    make_fifo(dir / "model-00001-of-00001.safetensors");
    write_index(dir.path(), "model-00001-of-00001.safetensors");
    auto message = load_error<moe::io::checkpoint_error>([&] { load_checkpoint(dir.path()); }, dir / "model-00001-of-00001.safetensors");
    CHECK_THAT(message, Catch::Contains("model-00001-of-00001.safetensors") && Catch::Contains("is a FIFO"));

    temp_dir only_index;
    make_fifo(only_index / "model.safetensors.index.json");
    message = load_error<moe::io::checkpoint_error>([&] { load_checkpoint(only_index.path()); }, only_index / "model.safetensors.index.json");
    CHECK_THAT(message, Catch::Contains((only_index / "model.safetensors.index.json").string()) &&
                            Catch::Contains("is a FIFO, not a regular file"));
}

TEST_CASE("a FIFO as config.json is a config_error naming it", "[io][hostile]") {
    temp_dir dir;
    make_fifo(dir / "config.json");
    const auto message = load_error<moe::config_error>([&] { const moe::hf_config config(dir / "config.json"); }, dir / "config.json");
    CHECK_THAT(message, Catch::StartsWith((dir / "config.json").string()) && Catch::Contains("is a FIFO"));
}

TEST_CASE("a FIFO as tokenizer.json or tokenizer_config.json is a tokenizer_error naming it", "[io][hostile]") {
    temp_dir dir;
    make_fifo(dir / "tokenizer.json");
    auto message = load_error<moe::text::tokenizer_error>([&] { moe::text::tokenizer::from_file(dir / "tokenizer.json"); }, dir / "tokenizer.json");
    CHECK_THAT(message, Catch::StartsWith((dir / "tokenizer.json").string()) && Catch::Contains("is a FIFO"));

    temp_dir with_config;
    write_text(with_config / "tokenizer.json", minimal_tokenizer);
    make_fifo(with_config / "tokenizer_config.json");
    message = load_error<moe::text::tokenizer_error>([&] { moe::text::tokenizer::from_file(with_config / "tokenizer.json"); },
                         with_config / "tokenizer_config.json");
    CHECK_THAT(message, Catch::Contains((with_config / "tokenizer_config.json").string()) && Catch::Contains("is a FIFO"));
}

TEST_CASE("a directory where a file is expected is a library error saying so", "[io][hostile]") {
    temp_dir dir;
    fs::create_directory(dir / "model.safetensors");
    auto message = load_error<moe::io::checkpoint_error>([&] { load_checkpoint(dir.path()); });
    CHECK_THAT(message, Catch::Contains((dir / "model.safetensors").string()) && Catch::Contains("is a directory"));

    temp_dir sharded;
    fs::create_directory(sharded / "shard.safetensors");
    write_index(sharded.path(), "shard.safetensors");
    message = load_error<moe::io::checkpoint_error>([&] { load_checkpoint(sharded.path()); });
    CHECK_THAT(message, Catch::Contains("shard.safetensors") && Catch::Contains("is a directory"));

    temp_dir index_dir;
    fs::create_directory(index_dir / "model.safetensors.index.json");
    message = load_error<moe::io::checkpoint_error>([&] { load_checkpoint(index_dir.path()); });
    CHECK_THAT(message, Catch::Contains((index_dir / "model.safetensors.index.json").string()) &&
                            Catch::Contains("is a directory"));

    fs::create_directory(dir / "config.json");
    message = load_error<moe::config_error>([&] { const moe::hf_config config(dir / "config.json"); });
    CHECK_THAT(message, Catch::StartsWith((dir / "config.json").string()) && Catch::Contains("is a directory"));

    fs::create_directory(dir / "tokenizer.json");
    message = load_error<moe::text::tokenizer_error>([&] { moe::text::tokenizer::from_file(dir / "tokenizer.json"); });
    CHECK_THAT(message, Catch::StartsWith((dir / "tokenizer.json").string()) && Catch::Contains("is a directory"));
}

TEST_CASE("a character device is refused without being read", "[io][hostile]") {
    if (!fs::exists("/dev/zero")) {
        WARN("no /dev/zero here: skipped");
        return;
    }
    auto message = load_error<moe::io::checkpoint_error>([] { load_checkpoint("/dev/zero"); });
    CHECK_THAT(message, Catch::Contains("/dev/zero") && Catch::Contains("is a character device"));
    message = load_error<moe::config_error>([] { const moe::hf_config config("/dev/zero"); });  // reading it would never end
    CHECK_THAT(message, Catch::Contains("/dev/zero") && Catch::Contains("is a character device"));
    message = load_error<moe::text::tokenizer_error>([] { moe::text::tokenizer::from_file("/dev/zero"); });
    CHECK_THAT(message, Catch::Contains("/dev/zero") && Catch::Contains("is a character device"));
}

// ---- path traversal ----

TEST_CASE("an index shard outside the checkpoint directory is refused, showing nothing of it", "[io][hostile]") {
    temp_dir root;
    const fs::path checkpoint = root / "checkpoint";
    fs::create_directories(checkpoint / "sub");
    write_foreign_file(root / "outside.safetensors");

    SECTION("the foreign file would leak: read directly, its error shows the secret") {
        // Guards the assertions below: they would pass vacuously if the parser never echoed these bytes.
        const auto message = load_error<moe::io::checkpoint_error>([&] { load_checkpoint(root / "outside.safetensors"); });
        CHECK_THAT(message, Catch::Contains(secret));
    }
    // {section name, shard name in the index, expected reason}; section names must not change between runs.
    const std::vector<std::vector<std::string>> cases = {
        {"dot-dot", "../outside.safetensors", "'..'"},
        {"dot-dot after a folder", "sub/../../outside.safetensors", "'..'"},
        {"absolute", (root / "outside.safetensors").string(), "absolute path"},
    };
    for (const auto& entry : cases) {
        const std::string& shard = entry[1];
        const std::string& reason = entry[2];
        DYNAMIC_SECTION("shard: " << entry[0]) {
            write_index(checkpoint, shard);
            const auto message = load_error<moe::io::checkpoint_error>([&] { load_checkpoint(checkpoint); });
            CHECK_THAT(message, Catch::Contains("model.safetensors.index.json") && Catch::Contains("tensor 'w'") &&
                                    Catch::Contains("shard '" + shard + "'") && Catch::Contains(reason) &&
                                    Catch::Contains("inside the checkpoint directory"));
            CHECK_THAT(message, !Catch::Contains(secret));
        }
    }
    SECTION("a symbolic link in the directory that resolves outside it") {
        fs::create_symlink(root / "outside.safetensors", checkpoint / "link.safetensors");
        write_index(checkpoint, "link.safetensors");
        const auto message = load_error<moe::io::checkpoint_error>([&] { load_checkpoint(checkpoint); });
        CHECK_THAT(message, Catch::Contains("shard 'link.safetensors'") && Catch::Contains("symbolic link") &&
                                Catch::Contains("outside the checkpoint directory"));
        CHECK_THAT(message, !Catch::Contains(secret));
    }
    SECTION("a symbolic link to a folder outside, then a file in it") {
        fs::create_directory(root / "elsewhere");
        write_foreign_file(root / "elsewhere" / "x.safetensors");
        fs::create_directory_symlink(root / "elsewhere", checkpoint / "linked");
        write_index(checkpoint, "linked/x.safetensors");
        const auto message = load_error<moe::io::checkpoint_error>([&] { load_checkpoint(checkpoint); });
        CHECK_THAT(message, Catch::Contains("shard 'linked/x.safetensors'") && Catch::Contains("symbolic link"));
        CHECK_THAT(message, !Catch::Contains(secret));
    }
}

TEST_CASE("shards inside the directory still load: subfolders, inner links, the Hugging Face cache", "[io][hostile]") {
    SECTION("a subfolder and a link that stays inside") {
        temp_dir dir;
        fs::create_directory(dir / "sub");
        write_safetensors(dir / "sub" / "real.safetensors", {small_tensor()});
        fs::create_symlink("sub/real.safetensors", dir / "link.safetensors");
        for (const std::string shard : {"sub/real.safetensors", "./sub/real.safetensors", "link.safetensors"}) {
            write_index(dir.path(), shard);
            const moe::io::checkpoint checkpoint(dir.path());
            CHECK(checkpoint.contains("w"));
        }
    }
    SECTION("the hub cache: snapshots/<revision>/ links into the repository's blobs/") {
        temp_dir repo;
        const fs::path snapshot = repo / "snapshots" / "0123abcd";
        fs::create_directories(snapshot);
        fs::create_directories(repo / "blobs");
        write_safetensors(repo / "blobs" / "5f1e", {small_tensor()});
        fs::create_symlink("../../blobs/5f1e", snapshot / "model-00001-of-00001.safetensors");
        write_index(snapshot, "model-00001-of-00001.safetensors");
        const moe::io::checkpoint checkpoint(snapshot);
        CHECK(checkpoint.contains("w"));
    }
}

}  // namespace test_hostile_files
