// moe/runtime/regular_file.hpp — opens a file only if it is a regular file; every file the library reads goes
// through it (checkpoint shards and indexes, config.json, tokenizer.json, tokenizer_config.json).
//
// A FIFO, a device, a socket or a directory where a file is expected would otherwise hang the loader (opening a
// FIFO blocks until a writer appears; reading /dev/zero never ends) or surface as a raw std::ios_base::failure.
// Here the path is first checked with stat (so a device is never even opened), then opened with
// O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC (opening a FIFO does not block) and the *descriptor* is checked
// again with fstat, so a file swapped between the two checks is still refused. Symbolic links are followed.
//
// Nothing here throws a library exception: the problem comes back as text ("is a FIFO, not a regular file") and
// each layer throws its own type with the path in front (moe::io::checkpoint_error, moe::config_error,
// moe::text::tokenizer_error).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>

namespace moe::detail {

// "is a FIFO, not a regular file", … for a stat mode that is not a regular file.
inline std::string not_regular_file_problem(mode_t mode) {
    if (S_ISDIR(mode)) return "is a directory, not a regular file";
    if (S_ISFIFO(mode)) return "is a FIFO, not a regular file";
    if (S_ISCHR(mode)) return "is a character device, not a regular file";
    if (S_ISBLK(mode)) return "is a block device, not a regular file";
    if (S_ISSOCK(mode)) return "is a socket, not a regular file";
    return "is not a regular file";
}

// An open, read-only descriptor of a regular file, closed on destruction; or, when opening failed, why.
class regular_file {
   public:
    // Never blocks, whatever `path` is. On failure the object is empty and problem() says why.
    static regular_file open(const std::filesystem::path& path) {
        regular_file file;
        struct stat info {};
        if (::stat(path.c_str(), &info) != 0) {
            file.problem_ = std::string("cannot open: ") + std::strerror(errno);
            return file;
        }
        if (!S_ISREG(info.st_mode)) {  // refuse before opening: opening some devices has effects of its own
            file.problem_ = not_regular_file_problem(info.st_mode);
            return file;
        }
        int fd = -1;
        do {
            fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            file.problem_ = std::string("cannot open: ") + std::strerror(errno);
            return file;
        }
        file.fd_ = fd;
        if (::fstat(fd, &info) != 0) {  // the descriptor, not the path: the path may have been swapped meanwhile
            file.problem_ = std::string("cannot stat: ") + std::strerror(errno);
            file.close();
            return file;
        }
        if (!S_ISREG(info.st_mode)) {
            file.problem_ = not_regular_file_problem(info.st_mode);
            file.close();
            return file;
        }
        const int flags = ::fcntl(fd, F_GETFL);  // back to blocking reads (no effect on regular files anyway)
        if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        file.size_ = static_cast<std::size_t>(info.st_size);
        return file;
    }

    regular_file() = default;
    regular_file(const regular_file&) = delete;
    regular_file& operator=(const regular_file&) = delete;
    regular_file(regular_file&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)), size_(other.size_), problem_(std::move(other.problem_)) {}
    regular_file& operator=(regular_file&& other) noexcept {
        if (this != &other) {
            close();
            fd_ = std::exchange(other.fd_, -1);
            size_ = other.size_;
            problem_ = std::move(other.problem_);
        }
        return *this;
    }
    ~regular_file() { close(); }

    explicit operator bool() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    std::size_t size() const { return size_; }  // st_size when opened
    const std::string& problem() const { return problem_; }

    // Reads the whole file into `contents`. Returns "" on success, else the problem ("cannot read: …").
    std::string read_all(std::string& contents) const {
        contents.clear();
        contents.reserve(size_);
        char buffer[1 << 16];
        for (;;) {
            const ::ssize_t got = ::read(fd_, buffer, sizeof buffer);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) return std::string("cannot read: ") + std::strerror(errno);
            if (got == 0) return {};
            contents.append(buffer, static_cast<std::size_t>(got));
        }
    }

    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

   private:
    int fd_ = -1;
    std::size_t size_ = 0;
    std::string problem_;
};

// The whole of the regular file at `path`, in `contents`. Returns "" on success, else the problem, without the path:
// "is a FIFO, not a regular file", "is a directory, not a regular file", "cannot open: No such file or directory", …
inline std::string read_regular_file(const std::filesystem::path& path, std::string& contents) {
    const regular_file file = regular_file::open(path);
    if (!file) return file.problem();
    return file.read_all(contents);
}

}  // namespace moe::detail
