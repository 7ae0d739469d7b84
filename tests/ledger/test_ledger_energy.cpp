// Energy meters against fake sysfs trees: RAPL wrap-around via max_energy_range_uj, subzones and psys not counted,
// permission denied → no meter and the ledger labels its joules "estimate"; amd_energy sockets; NVML through a fake
// libnvidia-ml (dlopen'ed) and a missing one.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

#include "moe/ledger.hpp"
#include "moe/models/families.hpp"

namespace test_ledger_energy {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace fs = std::filesystem;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        path = fs::temp_directory_path() / ("moe_ledger_" + std::to_string(::getpid()) + "_" + std::to_string(count++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    static inline int count = 0;
};

void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text << "\n";
}

// A package zone with a subzone (core) that must not be added to it.
void make_zone(const fs::path& root, const std::string& zone, const std::string& name, std::uint64_t energy,
               std::uint64_t range) {
    write(root / zone / "name", name);
    write(root / zone / "energy_uj", std::to_string(energy));
    write(root / zone / "max_energy_range_uj", std::to_string(range));
}

constexpr moe::qwen3_moe_config small{.vocab_size = 10, .model_width = 8, .layers = 2, .heads = 2, .kv_heads = 1,
                                      .head_dim = 4, .expert_width = 6, .experts = 4, .top_k = 2,
                                      .weights = moe::weight_format::fp32};
using small_model = moe::qwen3_moe<small>;

}  // namespace

TEST_CASE("rapl_meter: sums package zones, skips subzones and psys, handles wrap-around") {
    temp_dir d;
    make_zone(d.path, "intel-rapl:0", "package-0", 999'000, 1'000'000);
    make_zone(d.path, "intel-rapl:0:0", "core", 123, 1'000'000);          // part of package 0
    make_zone(d.path, "intel-rapl:1", "psys", 0, 1'000'000);              // whole platform: would double-count
    make_zone(d.path, "intel-rapl:2", "package-1", 10'000, 5'000'000);
    write(d.path / "intel-rapl-mmio:0" / "energy_uj", "7");                // same package via MMIO: ignored

    moe::ledger::rapl_meter meter(d.path);
    CHECK(meter.source() == moe::ledger::energy_source::rapl);
    CHECK(meter.description().find("package-0") != std::string::npos);
    CHECK(meter.description().find("psys") == std::string::npos);
    CHECK(*meter.joules() == 0.0);

    // Package 0 wraps: 999000 → 1000000 (range) → 0 → 500 = 1500 µJ; package 1 advances 2500 µJ.
    write(d.path / "intel-rapl:0" / "energy_uj", "500");
    write(d.path / "intel-rapl:0:0" / "energy_uj", "900000");
    write(d.path / "intel-rapl:2" / "energy_uj", "12500");
    CHECK(*meter.joules() == Approx(4000e-6));

    // Then both advance normally; the total keeps accumulating.
    write(d.path / "intel-rapl:0" / "energy_uj", "1500");
    write(d.path / "intel-rapl:2" / "energy_uj", "13500");
    CHECK(*meter.joules() == Approx(6000e-6));

    // A read that fails (file gone) gives nullopt and changes nothing; the next good read continues.
    fs::remove(d.path / "intel-rapl:2" / "energy_uj");
    CHECK_FALSE(meter.joules().has_value());
    write(d.path / "intel-rapl:2" / "energy_uj", "14500");
    CHECK(*meter.joules() == Approx(7000e-6));
}

TEST_CASE("rapl_meter: no zones, or a missing root, is unavailable") {
    temp_dir d;
    CHECK_THROWS_AS(moe::ledger::rapl_meter(d.path), moe::ledger::meter_unavailable);
    CHECK_THROWS_AS(moe::ledger::rapl_meter(d.path / "absent"), moe::ledger::meter_unavailable);
    const auto opened = moe::ledger::open_meter({.powercap_root = d.path / "absent", .hwmon_root = d.path / "absent"});
    CHECK_FALSE(opened.meter);
    CHECK(opened.note.find("absent") != std::string::npos);
}

TEST_CASE("permission denied: no meter, the note says why, the ledger is labelled estimate") {
    temp_dir d;
    make_zone(d.path, "intel-rapl:0", "package-0", 1000, 1'000'000);
    // Root is never denied by file modes, so the denial is injected where the meter reads files.
    auto denying = [](const fs::path& p) -> moe::ledger::file_read {
        if (p.filename() == "energy_uj") return {std::nullopt, EACCES};
        return moe::ledger::read_sysfs_file(p);
    };
    auto opened = moe::ledger::open_meter({.powercap_root = d.path, .hwmon_root = d.path / "none", .reader = denying});
    REQUIRE_FALSE(opened.meter);
    CHECK(opened.note.find("permission denied") != std::string::npos);
    CHECK(opened.note.find("intel-rapl:0/energy_uj") != std::string::npos);

    moe::ledger::tracker t(moe::ledger::cost_of<small_model>(), opened.meter.get(), {}, opened.note);
    t.begin(moe::ledger::phase::prompt);
    t.forward(4, 0);
    t.begin(moe::ledger::phase::answer);
    t.forward(1, 4);
    const auto r = t.finish();
    CHECK(r.energy_note.find("permission denied") != std::string::npos);
    CHECK(r.prompt.source == moe::ledger::energy_source::estimate);
    CHECK(r.answer.source == moe::ledger::energy_source::estimate);
    CHECK(r.total().source == moe::ledger::energy_source::estimate);
    CHECK(r.prompt.joules == r.prompt.joules_estimate);
    CHECK(r.prompt.joules > 0);

    // The real file-mode path, where it can be exercised (not as root).
    if (::geteuid() != 0) {
        fs::permissions(d.path / "intel-rapl:0" / "energy_uj", fs::perms::none);
        auto real = moe::ledger::open_meter({.powercap_root = d.path, .hwmon_root = d.path / "none"});
        CHECK_FALSE(real.meter);
        CHECK(real.note.find("permission denied") != std::string::npos);
    }
}

TEST_CASE("tracker with a meter: measured joules per phase, dense scaled by the estimate ratio") {
    temp_dir d;
    make_zone(d.path, "intel-rapl:0", "package-0", 0, 1'000'000'000);
    // Every read of energy_uj advances the counter by 1 J: the meter reads once at begin and once at close.
    std::uint64_t counter = 0;
    auto ticking = [&](const fs::path& p) -> moe::ledger::file_read {
        if (p.filename() == "energy_uj") {
            const auto now = counter;
            counter += 1'000'000;
            return {std::to_string(now), 0};
        }
        return moe::ledger::read_sysfs_file(p);
    };
    auto opened = moe::ledger::open_meter({.powercap_root = d.path, .reader = ticking});
    REQUIRE(opened.meter);
    CHECK(opened.meter->source() == moe::ledger::energy_source::rapl);

    moe::ledger::tracker t(moe::ledger::cost_of<small_model>(), opened.meter.get(), {}, opened.note);
    t.begin(moe::ledger::phase::thinking);
    t.forward(1, 0);
    t.begin(moe::ledger::phase::answer);
    t.forward(1, 1);
    const auto r = t.finish();
    CHECK(r.thinking.source == moe::ledger::energy_source::rapl);
    CHECK(r.thinking.joules == Approx(1.0));
    CHECK(r.answer.joules == Approx(1.0));
    CHECK(r.answer.dense_joules == Approx(r.answer.dense_joules_estimate / r.answer.joules_estimate));
    CHECK(r.prompt.source == moe::ledger::energy_source::estimate);  // never opened: nothing measured
    CHECK(r.total().source == moe::ledger::energy_source::rapl);
}

TEST_CASE("amd_energy_meter: socket counters only") {
    temp_dir d;
    write(d.path / "hwmon0" / "name", "k10temp");
    write(d.path / "hwmon1" / "name", "amd_energy");
    write(d.path / "hwmon1" / "energy1_label", "Ecore000");
    write(d.path / "hwmon1" / "energy1_input", "100");
    write(d.path / "hwmon1" / "energy2_label", "Esocket0");
    write(d.path / "hwmon1" / "energy2_input", "2000000");
    auto opened = moe::ledger::open_meter({.powercap_root = d.path / "no-powercap", .hwmon_root = d.path});
    REQUIRE(opened.meter);
    CHECK(opened.meter->source() == moe::ledger::energy_source::amd_energy);
    CHECK(*opened.meter->joules() == 0.0);
    write(d.path / "hwmon1" / "energy1_input", "900100");
    write(d.path / "hwmon1" / "energy2_input", "3500000");
    CHECK(*opened.meter->joules() == Approx(1.5));
}

TEST_CASE("nvml_meter: through a fake libnvidia-ml, and absent") {
    auto opened = moe::ledger::open_meter({.device = moe::ledger::device_kind::gpu, .nvml_library = MOE_FAKE_NVML});
    REQUIRE(opened.meter);
    CHECK(opened.meter->source() == moe::ledger::energy_source::nvml);
    CHECK(*opened.meter->joules() == Approx(0.25));  // the fake advances 250 mJ per read
    CHECK(*opened.meter->joules() == Approx(0.50));

    CHECK_THROWS_AS(moe::ledger::nvml_meter(3, MOE_FAKE_NVML), moe::ledger::meter_unavailable);
    auto absent = moe::ledger::open_meter({.device = moe::ledger::device_kind::gpu,
                                           .nvml_library = "libnvidia-ml-that-does-not-exist.so"});
    CHECK_FALSE(absent.meter);
    CHECK(absent.note.find("NVML") != std::string::npos);
}

TEST_CASE("energy_source names round trip") {
    for (auto s : {moe::ledger::energy_source::rapl, moe::ledger::energy_source::amd_energy,
                   moe::ledger::energy_source::nvml, moe::ledger::energy_source::estimate})
        CHECK(moe::ledger::energy_source_from(moe::ledger::name_of(s)) == s);
    CHECK_THROWS_AS(moe::ledger::energy_source_from("joulemeter"), std::invalid_argument);
}

// Hostile sysfs (issue 13): a FIFO where a counter should be would block fopen forever; a garbage or oversized value
// must be reported, capped, never parsed as a number.
TEST_CASE("rapl_meter: a FIFO counter is refused at once, garbage values are reported capped") {
    temp_dir d;
    make_zone(d.path, "intel-rapl:0", "package-0", 1000, 1'000'000);
    fs::remove(d.path / "intel-rapl:0" / "energy_uj");
    REQUIRE(::mkfifo((d.path / "intel-rapl:0" / "energy_uj").c_str(), 0600) == 0);
    const auto fifo = moe::ledger::read_sysfs_file(d.path / "intel-rapl:0" / "energy_uj");  // returns: no writer needed
    CHECK_FALSE(fifo.text.has_value());
    CHECK(fifo.error == ENODEV);
    auto opened = moe::ledger::open_meter({.powercap_root = d.path, .hwmon_root = d.path / "none"});
    REQUIRE_FALSE(opened.meter);
    CHECK(opened.note.find("energy_uj: is a FIFO, device or socket, not a regular file") != std::string::npos);

    // A directory in place of the counter, then garbage, then a 20-digit overflow, then a huge line.
    fs::remove(d.path / "intel-rapl:0" / "energy_uj");
    fs::create_directories(d.path / "intel-rapl:0" / "energy_uj");
    CHECK(moe::ledger::read_sysfs_file(d.path / "intel-rapl:0" / "energy_uj").error == EISDIR);
    fs::remove(d.path / "intel-rapl:0" / "energy_uj");
    for (const std::string& garbage : {std::string("12abc"), std::string("-5"), std::string("99999999999999999999"),
                                      std::string(10'000, '7') + "\x1b[2J"}) {
        write(d.path / "intel-rapl:0" / "energy_uj", garbage);
        std::string message;
        try {
            const moe::ledger::rapl_meter meter(d.path);
        } catch (const moe::ledger::meter_unavailable& e) {
            message = e.what();
        }
        INFO(message);
        CHECK(message.find("energy_uj: not a counter: '") != std::string::npos);
        CHECK(message.size() < 400);
        CHECK(message.find('\x1b') == std::string::npos);
    }
}

}  // namespace test_ledger_energy
