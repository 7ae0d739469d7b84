// moe/cpu/thread_pool.hpp — a small fixed pool that runs independent work items.
//
// Determinism comes from the callers, not the pool: every parallel_for in the library splits its work into items
// whose count and boundaries do not depend on the number of threads, and each item writes its own outputs.
// So any thread may run any item and the result is bit-identical for 1, 2 or N threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace moe::cpu {

class thread_pool {
   public:
    // `threads` counts the calling thread: thread_pool(1) runs everything on the caller.
    explicit thread_pool(int threads = 1) {
        if (threads < 1) throw std::invalid_argument("thread_pool: threads must be at least 1, got " + std::to_string(threads));
        for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& w : workers_) w.join();
    }

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    // Calls fn(i) once for every i in [0, items); returns when all are done. The first exception thrown by an
    // item is rethrown here (remaining items are skipped).
    void parallel_for(std::int64_t items, const std::function<void(std::int64_t)>& fn) {
        if (items <= 0) return;
        if (workers_.empty() || items == 1) {
            for (std::int64_t i = 0; i < items; ++i) fn(i);
            return;
        }
        std::unique_lock call_lock(call_mutex_);  // one parallel_for at a time per pool
        {
            std::lock_guard lock(mutex_);
            job_ = &fn;
            job_items_ = items;
            next_item_.store(0);
            items_done_ = 0;
            error_ = nullptr;
            ++generation_;
        }
        wake_.notify_all();
        run_items();
        std::unique_lock lock(mutex_);
        finished_.wait(lock, [&] { return items_done_ == job_items_ && active_workers_ == 0; });
        job_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

   private:
    void run_items() {
        std::int64_t done = 0;
        for (;;) {
            const std::int64_t i = next_item_.fetch_add(1);
            if (i >= job_items_) break;
            try {
                (*job_)(i);
            } catch (...) {
                std::lock_guard lock(mutex_);
                if (!error_) error_ = std::current_exception();
                next_item_.store(job_items_);  // skip the rest
            }
            ++done;
        }
        std::lock_guard lock(mutex_);
        items_done_ += done;
        // Skipped items count as done so the caller can return.
        if (error_) items_done_ = job_items_;
        finished_.notify_all();
    }

    void worker_loop() {
        std::uint64_t seen = 0;
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
                if (stopping_) return;
                seen = generation_;
                if (job_ == nullptr) continue;
                ++active_workers_;
            }
            run_items();
            std::lock_guard lock(mutex_);
            --active_workers_;
            finished_.notify_all();
        }
    }

    std::vector<std::thread> workers_;
    std::mutex call_mutex_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable finished_;
    const std::function<void(std::int64_t)>* job_ = nullptr;
    std::int64_t job_items_ = 0;
    std::atomic<std::int64_t> next_item_{0};
    std::int64_t items_done_ = 0;
    int active_workers_ = 0;
    std::uint64_t generation_ = 0;
    bool stopping_ = false;
    std::exception_ptr error_;
};

}  // namespace moe::cpu
