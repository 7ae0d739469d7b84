// moe/io/mapped_file.hpp — a whole file in memory, read-only: memory-mapped, or read into huge pages.
//
// Weights are used in place from these bytes, so a mapped_file must outlive every view handed out.
//   file_memory::mapped      POSIX mmap, MAP_PRIVATE/PROT_READ: the process can never modify the checkpoint,
//                            nothing is read up front, pages are shared with the page cache. If another process
//                            truncates the file while it is mapped, touching the lost pages raises SIGBUS — that
//                            cannot be detected up front.
//   file_memory::huge_pages  the file is read (pread) into private anonymous memory advised to use 2 MiB
//                            transparent huge pages (MADV_HUGEPAGE), then made read-only. Streaming weights then
//                            misses the TLB far less often: one thread read a 1 GiB buffer at 33 GB/s from such
//                            memory against 19 GB/s from 4 KiB pages here (docs/checkpoints.md). Costs the read at load
//                            time; where THP is disabled the memory is ordinary pages.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <span>
#include <string>
#include <utility>

#include "moe/io/checkpoint_error.hpp"
#include "moe/runtime/regular_file.hpp"

namespace moe::io {

enum class file_memory { mapped, huge_pages };

// Advises the whole 2 MiB pages inside [data, data + bytes) to be transparent huge pages. Call it before the
// memory is first touched (e.g. between reserve() and resize() of a large vector): the pages are then faulted in
// as huge pages. Advice only; does nothing for small ranges or where THP is unavailable.
inline void advise_huge_pages(void* data, std::size_t bytes) {
#if defined(MADV_HUGEPAGE)
    constexpr std::uintptr_t huge = std::uintptr_t{2} << 20;
    const auto begin = (reinterpret_cast<std::uintptr_t>(data) + huge - 1) / huge * huge;
    const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) / huge * huge;
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
    (void)data;
    (void)bytes;
#endif
}

// Allocator for converted weights: blocks of 2 MiB and more start on a 2 MiB boundary and span whole 2 MiB pages,
// all advised for transparent huge pages — so every byte of a tensor that decode streams is on a huge page (a
// plain vector's interior only: measured 19 vs 33 GB/s from one core for 4 KiB vs 2 MiB pages). Smaller blocks use
// operator new.
template <class T>
struct huge_page_allocator {
    using value_type = T;
    static constexpr std::size_t huge = std::size_t{2} << 20;

    huge_page_allocator() = default;
    template <class U>
    huge_page_allocator(const huge_page_allocator<U>&) {}

    T* allocate(std::size_t n) {
        const std::size_t bytes = n * sizeof(T);
        if (bytes < huge) return static_cast<T*>(::operator new(bytes, std::align_val_t{alignof(T)}));
        void* p = std::aligned_alloc(huge, (bytes + huge - 1) / huge * huge);
        if (p == nullptr) throw std::bad_alloc();
        advise_huge_pages(p, (bytes + huge - 1) / huge * huge);
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t n) {
        if (n * sizeof(T) < huge) ::operator delete(p, std::align_val_t{alignof(T)});
        else std::free(p);
    }
    template <class U>
    bool operator==(const huge_page_allocator<U>&) const { return true; }
};

class mapped_file {
   public:
    mapped_file() = default;

    explicit mapped_file(const std::filesystem::path& path, file_memory memory = file_memory::mapped)
        : path_(path.string()) {
        // Only a regular file: a FIFO, device or directory is refused without blocking (moe/runtime/regular_file.hpp).
        moe::detail::regular_file file = moe::detail::regular_file::open(path);
        if (!file) throw detail::file_error(path_, file.problem());
        const int fd = file.fd();
        size_ = file.size();
        if (size_ > 0 && memory == file_memory::huge_pages) {
            read_into_huge_pages(fd);
        } else if (size_ > 0) {  // mmap of length 0 fails; an empty file is reported by the parser instead
            mapping_size_ = size_;
            void* address = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (address == MAP_FAILED) {
                const int error = errno;
                throw detail::file_error(path_, std::string("cannot mmap: ") + std::strerror(error));
            }
            data_ = static_cast<const std::byte*>(address);
        }
    }  // `file` closes the descriptor; the mapping keeps the file alive

    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    mapped_file(mapped_file&& other) noexcept
        : path_(std::move(other.path_)),
          data_(std::exchange(other.data_, nullptr)),
          size_(std::exchange(other.size_, 0)),
          mapping_size_(std::exchange(other.mapping_size_, 0)) {}
    mapped_file& operator=(mapped_file&& other) noexcept {
        if (this != &other) {
            unmap();
            path_ = std::move(other.path_);
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
            mapping_size_ = std::exchange(other.mapping_size_, 0);
        }
        return *this;
    }
    ~mapped_file() { unmap(); }

    // The whole file; the address is page-aligned and stays put when the mapped_file is moved.
    std::span<const std::byte> bytes() const { return {data_, size_}; }
    const std::string& path() const { return path_; }

   private:
    static constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

    // Anonymous memory rounded up to whole huge pages, advised for THP, filled by pread, then made read-only.
    // Closes nothing: the caller owns fd.
    void read_into_huge_pages(int fd) {
        mapping_size_ = (size_ + huge_page_bytes - 1) / huge_page_bytes * huge_page_bytes;
        void* address = ::mmap(nullptr, mapping_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (address == MAP_FAILED) {
            const int error = errno;
            throw detail::file_error(path_, "cannot allocate " + std::to_string(mapping_size_) +
                                                " bytes to read the file into: " + std::strerror(error));
        }
        data_ = static_cast<const std::byte*>(address);
#if defined(MADV_HUGEPAGE)
        ::madvise(address, mapping_size_, MADV_HUGEPAGE);  // advice only: without THP the pages stay 4 KiB
#endif
        auto* target = static_cast<char*>(address);
        std::size_t done = 0;
        while (done < size_) {
            const std::size_t chunk = std::min<std::size_t>(size_ - done, std::size_t{64} << 20);
            const ::ssize_t got = ::pread(fd, target + done, chunk, static_cast<::off_t>(done));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                const int error = got < 0 ? errno : 0;
                unmap();
                throw detail::file_error(path_, error != 0 ? std::string("cannot read: ") + std::strerror(error)
                                                           : std::string("file shrank while being read"));
            }
            done += static_cast<std::size_t>(got);
        }
        ::mprotect(address, mapping_size_, PROT_READ);  // like the mapping: the weights are never written
    }

    void unmap() {
        if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), mapping_size_);
        data_ = nullptr;
        size_ = 0;
        mapping_size_ = 0;
    }

    std::string path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;          // bytes of the file
    std::size_t mapping_size_ = 0;  // bytes mapped (size_ rounded up to huge pages for file_memory::huge_pages)
};

}  // namespace moe::io
