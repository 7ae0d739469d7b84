// moe/ledger/energy.hpp — energy meters: Linux RAPL (powercap), AMD's amd_energy (hwmon), NVIDIA NVML (dlopen'ed),
// and the estimate used when none can be read.
//
//   auto opened = moe::ledger::open_meter({.device = moe::ledger::device_kind::cpu});
//   if (opened.meter) { double j0 = *opened.meter->joules(); ... }   // else: opened.note says why → estimate
//
// Every meter reports joules accumulated since it was opened, so a caller takes differences. The counters are
// whole-socket / whole-GPU: other work on the machine is counted too (docs/reasoning.md).
#pragma once

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "moe/error.hpp"
#include "moe/excerpt.hpp"
#include "moe/runtime/regular_file.hpp"

namespace moe::ledger {

enum class energy_source { rapl, amd_energy, nvml, estimate };

constexpr std::string_view name_of(energy_source s) {
    switch (s) {
        case energy_source::rapl: return "rapl";
        case energy_source::amd_energy: return "amd_energy";
        case energy_source::nvml: return "nvml";
        case energy_source::estimate: return "estimate";
    }
    return "estimate";
}

inline energy_source energy_source_from(std::string_view name) {
    for (auto s : {energy_source::rapl, energy_source::amd_energy, energy_source::nvml, energy_source::estimate})
        if (name_of(s) == name) return s;
    throw moe::invalid_argument("moe::ledger: unknown energy source '" + moe::excerpt(name) + "'");
}

// The estimate: E = flops · joules_per_flop + bytes · joules_per_byte. Defaults are Horowitz's 45 nm figures
// (ISSCC 2014, "Computing's energy problem"), as tabulated by Han et al. (arXiv 1506.02626, Table 1):
// fp32 multiply 3.7 pJ + add 0.9 pJ = 4.6 pJ per multiply-add = 2.3 pJ/FLOP; a 32-bit DRAM access 640 pJ =
// 160 pJ/byte. Circuit-level energies without static power, cooling or the rest of the system: a lower bound.
struct estimate_constants {
    double joules_per_flop = 2.3e-12;
    double joules_per_byte = 160e-12;

    double joules(double flops, double bytes) const { return flops * joules_per_flop + bytes * joules_per_byte; }
    friend bool operator==(const estimate_constants&, const estimate_constants&) = default;
};

// A meter could not be opened (no counter, permission denied, no library); what() says why.
class meter_unavailable : public error_with<std::runtime_error> {
   public:
    using error_with::error_with;
};

class energy_meter {
   public:
    virtual ~energy_meter() = default;
    virtual energy_source source() const = 0;
    // Joules since the meter was opened; nullopt when this read failed (the next one may work again).
    virtual std::optional<double> joules() = 0;
    virtual std::string description() const = 0;
};

// Reading a small sysfs file: its text, or the errno of the failure. Injectable so tests can simulate EACCES
// (root, who runs many CI jobs, is never denied by file modes).
struct file_read {
    std::optional<std::string> text;
    int error = 0;  // errno; EISDIR / ENODEV: a directory / a FIFO, device or socket where a file should be
};
using file_reader = std::function<file_read(const std::filesystem::path&)>;

// At most 255 bytes are read (a counter or a zone name is a few); only a regular file is opened (sysfs attributes
// are), so a FIFO or device put in the counter's place is refused (ENODEV) instead of blocking or streaming.
inline file_read read_sysfs_file(const std::filesystem::path& path) {
    errno = 0;
    const moe::detail::regular_file file = moe::detail::regular_file::open(path);
    if (!file) {
        const int error = errno;  // stat / open failed (EACCES gets its RAPL hint), or not a regular file
        if (error != 0 && file.problem().rfind("cannot open", 0) == 0) return {std::nullopt, error};
        return {std::nullopt, file.problem().find("directory") != std::string::npos ? EISDIR : ENODEV};
    }
    char buffer[256];
    std::size_t n = 0;
    while (n < sizeof buffer - 1) {
        const ::ssize_t got = ::read(file.fd(), buffer + n, sizeof buffer - 1 - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return {std::nullopt, errno != 0 ? errno : EIO};
        if (got == 0) break;
        n += static_cast<std::size_t>(got);
    }
    return {std::string(buffer, n), 0};
}

namespace detail {

inline std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

inline std::string describe_error(const std::filesystem::path& path, int error) {
    std::string why = std::generic_category().message(error);
    if (error == EACCES || error == EPERM) {
        why = "permission denied (RAPL energy counters are root-only since Linux 5.10, CVE-2020-8694)";
    } else if (error == EISDIR) {
        why = "is a directory, not a regular file";
    } else if (error == ENODEV) {
        why = "is a FIFO, device or socket, not a regular file";
    }
    return path.string() + ": " + why;
}

// A decimal counter value; nullopt when the text is not one.
inline std::optional<std::uint64_t> parse_counter(const std::string& text) {
    const std::string t = trim(text);
    if (t.empty() || t.size() > 19) return std::nullopt;
    std::uint64_t v = 0;
    for (char ch : t) {
        if (ch < '0' || ch > '9') return std::nullopt;
        v = v * 10 + std::uint64_t(ch - '0');
    }
    return v;
}

// An unsigned counter value, or throws meter_unavailable naming the file and the reason.
inline std::uint64_t read_counter(const file_reader& reader, const std::filesystem::path& path) {
    const file_read r = reader(path);
    if (!r.text) throw meter_unavailable(describe_error(path, r.error));
    const auto v = parse_counter(*r.text);
    if (!v) throw meter_unavailable(path.string() + ": not a counter: '" + moe::excerpt(trim(*r.text)) + "'");
    return *v;
}

// A monotonically accumulated counter in microjoules. RAPL counters wrap to 0 after max_energy_range_uj; a drop is
// read as one wrap, so reads must come more often than once a wrap period (a typical range of 262 kJ lasts ~40 min
// at 100 W).
struct accumulating_counter {
    std::filesystem::path file;
    std::uint64_t range = 0;  // 0 = the counter does not wrap (amd_energy accumulates to 64 bits itself)
    std::uint64_t last = 0;
    double total_uj = 0;

    void update(std::uint64_t now) {
        if (now >= last) total_uj += double(now - last);
        else if (range > 0) total_uj += double(range - last) + double(now);
        // else: a non-wrapping counter went back (driver reload): count nothing for this interval.
        last = now;
    }
};

}  // namespace detail

// Linux powercap RAPL: the package zones <root>/intel-rapl:N (AMD CPUs appear under the same name since Linux 5.8).
// Subzones (intel-rapl:N:M: core, uncore, dram) are parts of their package and are not added again; psys (the whole
// platform) would double-count the packages and is skipped too.
class rapl_meter final : public energy_meter {
   public:
    explicit rapl_meter(std::filesystem::path root = "/sys/class/powercap", file_reader reader = read_sysfs_file)
        : root_(std::move(root)), reader_(std::move(reader)) {
        std::error_code ec;
        std::vector<std::filesystem::path> zones;
        for (std::filesystem::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
            const std::string name = it->path().filename().string();
            if (name.rfind("intel-rapl:", 0) != 0 || name.find(':', 11) != std::string::npos) continue;
            zones.push_back(it->path());
        }
        if (ec && zones.empty()) throw meter_unavailable(root_.string() + ": " + ec.message());
        std::sort(zones.begin(), zones.end());
        for (const auto& z : zones) {
            const file_read label = reader_(z / "name");
            const std::string zone_name = label.text ? moe::excerpt(detail::trim(*label.text)) : z.filename().string();
            if (zone_name == "psys") continue;
            detail::accumulating_counter c;
            c.file = z / "energy_uj";
            c.range = detail::read_counter(reader_, z / "max_energy_range_uj");
            c.last = detail::read_counter(reader_, c.file);
            counters_.push_back(c);
            names_.push_back(zone_name);
        }
        if (counters_.empty()) throw meter_unavailable(root_.string() + ": no RAPL package zone (intel-rapl:N)");
    }

    energy_source source() const override { return energy_source::rapl; }

    std::optional<double> joules() override {
        std::vector<std::uint64_t> now;  // all zones read before any is updated: a failed read changes nothing
        for (const auto& c : counters_) {
            const file_read r = reader_(c.file);
            const auto v = r.text ? detail::parse_counter(*r.text) : std::nullopt;
            if (!v) return std::nullopt;
            now.push_back(*v);
        }
        double total = 0;
        for (std::size_t i = 0; i < counters_.size(); ++i) {
            counters_[i].update(now[i]);
            total += counters_[i].total_uj;
        }
        return total * 1e-6;
    }

    std::string description() const override {
        std::string d = "RAPL " + root_.string() + ":";
        for (const auto& n : names_) d += " " + n;
        return d;
    }

   private:
    std::filesystem::path root_;
    file_reader reader_;
    std::vector<detail::accumulating_counter> counters_;
    std::vector<std::string> names_;
};

// AMD's amd_energy hwmon driver (Zen, Linux 5.8–5.17; out of tree since): <root>/hwmonN/name == "amd_energy",
// energyK_input in µJ with energyK_label "Esocket<s>" (sockets) or "Ecore<c>" (cores, part of their socket: skipped).
class amd_energy_meter final : public energy_meter {
   public:
    explicit amd_energy_meter(std::filesystem::path root = "/sys/class/hwmon", file_reader reader = read_sysfs_file)
        : root_(std::move(root)), reader_(std::move(reader)) {
        std::error_code ec;
        std::vector<std::filesystem::path> dirs;
        for (std::filesystem::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec))
            dirs.push_back(it->path());
        std::sort(dirs.begin(), dirs.end());
        for (const auto& d : dirs) {
            const file_read name = reader_(d / "name");
            if (!name.text || detail::trim(*name.text) != "amd_energy") continue;
            for (int k = 1; k <= 1024; ++k) {
                const std::string stem = "energy" + std::to_string(k);
                const file_read label = reader_(d / (stem + "_label"));
                if (!label.text) break;
                if (detail::trim(*label.text).rfind("Esocket", 0) != 0) continue;
                detail::accumulating_counter c;
                c.file = d / (stem + "_input");
                c.last = detail::read_counter(reader_, c.file);
                counters_.push_back(c);
            }
        }
        if (counters_.empty()) throw meter_unavailable(root_.string() + ": no amd_energy socket counter");
    }

    energy_source source() const override { return energy_source::amd_energy; }

    std::optional<double> joules() override {
        std::vector<std::uint64_t> now;
        for (const auto& c : counters_) {
            const file_read r = reader_(c.file);
            const auto v = r.text ? detail::parse_counter(*r.text) : std::nullopt;
            if (!v) return std::nullopt;
            now.push_back(*v);
        }
        double total = 0;
        for (std::size_t i = 0; i < counters_.size(); ++i) {
            counters_[i].update(now[i]);
            total += counters_[i].total_uj;
        }
        return total * 1e-6;
    }

    std::string description() const override {
        return "amd_energy " + root_.string() + ": " + std::to_string(counters_.size()) + " socket(s)";
    }

   private:
    std::filesystem::path root_;
    file_reader reader_;
    std::vector<detail::accumulating_counter> counters_;
};

// NVIDIA NVML's total-energy counter (millijoules since the driver loaded; Volta and newer), loaded with dlopen so
// that nothing links NVML. The counter updates every 20–100 ms: windows shorter than that can read 0.
class nvml_meter final : public energy_meter {
   public:
    explicit nvml_meter(unsigned device_index = 0, const std::string& library = "libnvidia-ml.so.1")
        : index_(device_index) {
        lib_ = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib_) {
            const char* e = ::dlerror();
            throw meter_unavailable("NVML: cannot load " + library + (e ? std::string(": ") + e : std::string()));
        }
        init_ = symbol<int (*)()>("nvmlInit_v2");
        shutdown_ = symbol<int (*)()>("nvmlShutdown");
        handle_ = symbol<int (*)(unsigned, void**)>("nvmlDeviceGetHandleByIndex_v2");
        energy_ = symbol<int (*)(void*, unsigned long long*)>("nvmlDeviceGetTotalEnergyConsumption");
        if (!init_ || !shutdown_ || !handle_ || !energy_) {
            ::dlclose(lib_);
            throw meter_unavailable("NVML: " + library + " lacks the energy functions");
        }
        if (int rc = init_(); rc != 0) {
            ::dlclose(lib_);
            throw meter_unavailable("NVML: nvmlInit_v2 failed (" + std::to_string(rc) + ")");
        }
        unsigned long long mj = 0;
        int rc = handle_(index_, &device_);
        if (rc == 0) rc = energy_(device_, &mj);
        if (rc != 0) {
            shutdown_();
            ::dlclose(lib_);
            throw meter_unavailable("NVML: device " + std::to_string(index_) +
                                    ": no total-energy counter (error " + std::to_string(rc) + ")");
        }
        start_mj_ = mj;
    }
    nvml_meter(const nvml_meter&) = delete;
    nvml_meter& operator=(const nvml_meter&) = delete;
    ~nvml_meter() override {
        shutdown_();
        ::dlclose(lib_);
    }

    energy_source source() const override { return energy_source::nvml; }

    std::optional<double> joules() override {
        unsigned long long mj = 0;
        if (energy_(device_, &mj) != 0 || mj < start_mj_) return std::nullopt;
        return double(mj - start_mj_) * 1e-3;
    }

    std::string description() const override { return "NVML device " + std::to_string(index_); }

   private:
    // dlsym returns an object pointer; copying its bits is the portable way to a function pointer (no
    // -Wpedantic complaint about casting between the two).
    template <class F>
    F symbol(const char* name) {
        void* p = ::dlsym(lib_, name);
        F f = nullptr;
        static_assert(sizeof f == sizeof p);
        std::memcpy(&f, &p, sizeof f);
        return f;
    }

    unsigned index_ = 0;
    void* lib_ = nullptr;
    void* device_ = nullptr;
    unsigned long long start_mj_ = 0;
    int (*init_)() = nullptr;
    int (*shutdown_)() = nullptr;
    int (*handle_)(unsigned, void**) = nullptr;
    int (*energy_)(void*, unsigned long long*) = nullptr;
};

enum class device_kind { cpu, gpu };

struct meter_options {
    device_kind device = device_kind::cpu;
    std::filesystem::path powercap_root = "/sys/class/powercap";
    std::filesystem::path hwmon_root = "/sys/class/hwmon";
    std::string nvml_library = "libnvidia-ml.so.1";
    unsigned gpu_index = 0;
    file_reader reader = read_sysfs_file;
};

// A meter, or none (then `note` says why each source failed and the ledger falls back to the estimate).
struct opened_meter {
    std::unique_ptr<energy_meter> meter;
    std::string note;
};

// CPU: RAPL, else amd_energy. GPU: NVML.
inline opened_meter open_meter(const meter_options& options = {}) {
    opened_meter out;
    auto attempt = [&](auto&& make) {
        if (out.meter) return;
        try {
            out.meter = make();
        } catch (const meter_unavailable& e) {
            out.note += (out.note.empty() ? "" : "; ") + std::string(e.what());
        }
    };
    if (options.device == device_kind::cpu) {
        attempt([&] { return std::make_unique<rapl_meter>(options.powercap_root, options.reader); });
        attempt([&] { return std::make_unique<amd_energy_meter>(options.hwmon_root, options.reader); });
    } else {
        attempt([&] { return std::make_unique<nvml_meter>(options.gpu_index, options.nvml_library); });
    }
    if (out.meter) out.note = out.meter->description();
    return out;
}

}  // namespace moe::ledger
