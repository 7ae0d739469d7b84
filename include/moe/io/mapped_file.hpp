// moe/io/mapped_file.hpp — a read-only, private memory mapping of a whole file (POSIX mmap).
//
// Weights are used in place from the mapping, so it must outlive every view handed out. The mapping is
// MAP_PRIVATE/PROT_READ: the process can never modify the checkpoint. If another process truncates the file while
// it is mapped, touching the lost pages raises SIGBUS — that cannot be detected up front.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <utility>

#include "moe/io/checkpoint_error.hpp"

namespace moe::io {

class mapped_file {
   public:
    mapped_file() = default;

    explicit mapped_file(const std::filesystem::path& path) : path_(path.string()) {
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw detail::file_error(path_, std::string("cannot open: ") + std::strerror(errno));
        struct stat info {};
        if (::fstat(fd, &info) != 0) {
            const int error = errno;
            ::close(fd);
            throw detail::file_error(path_, std::string("cannot stat: ") + std::strerror(error));
        }
        if (!S_ISREG(info.st_mode)) {
            ::close(fd);
            throw detail::file_error(path_, "not a regular file");
        }
        size_ = static_cast<std::size_t>(info.st_size);
        if (size_ > 0) {  // mmap of length 0 fails; an empty file is reported by the parser instead
            void* address = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (address == MAP_FAILED) {
                const int error = errno;
                ::close(fd);
                throw detail::file_error(path_, std::string("cannot mmap: ") + std::strerror(error));
            }
            data_ = static_cast<const std::byte*>(address);
        }
        ::close(fd);  // the mapping keeps the file alive
    }

    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    mapped_file(mapped_file&& other) noexcept
        : path_(std::move(other.path_)),
          data_(std::exchange(other.data_, nullptr)),
          size_(std::exchange(other.size_, 0)) {}
    mapped_file& operator=(mapped_file&& other) noexcept {
        if (this != &other) {
            unmap();
            path_ = std::move(other.path_);
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }
    ~mapped_file() { unmap(); }

    // The whole file; the address is page-aligned and stays put when the mapped_file is moved.
    std::span<const std::byte> bytes() const { return {data_, size_}; }
    const std::string& path() const { return path_; }

   private:
    void unmap() {
        if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
        data_ = nullptr;
        size_ = 0;
    }

    std::string path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace moe::io
