// moe/runtime/thread_pool.hpp — a small fixed pool that runs independent work items: the CPU backend's executor.
//
// A runtime facility, not part of a backend: the CPU model is handed one per call (its `executor`), decoding and
// the ledger pass it through without knowing what it is. moe::cpu::thread_pool names the same class.
//
// Determinism comes from the callers, not the pool: every parallel_for in the library splits its work into items
// whose count and boundaries do not depend on the number of threads, and each item writes its own outputs.
// So any thread may run any item and the result is bit-identical for 1, 2 or N threads.
// Workers spin for a few hundred microseconds after a job before sleeping on a condition variable, so the many
// short parallel_for calls of a decode step (a few per layer) do not pay a wake-up each.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "moe/error.hpp"

namespace moe {

class thread_pool {
   public:
    // `threads` counts the calling thread: thread_pool(1) runs everything on the caller.
    explicit thread_pool(int threads = 1) {
        if (threads < 1) throw moe::invalid_argument("thread_pool: threads must be at least 1, got " + std::to_string(threads));
        for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool() {
        {
            std::lock_guard lock(mutex_);
            stopping_.store(true);
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
        job current{&fn, items};
        current_.store(&current);
        {
            std::lock_guard lock(mutex_);  // sleeping workers test `generation_` under the mutex
            generation_.fetch_add(1);
        }
        wake_.notify_all();
        run_items(current);
        // Workers that saw `current` registered in `active_` first; once it is null, no new one can pick it up.
        current_.store(nullptr);
        for (int spins = 0; current.done.load() < items || active_.load() > 0; ++spins) pause(spins);
        if (current.error) std::rethrow_exception(current.error);
    }

   private:
    struct job {
        job(const std::function<void(std::int64_t)>* f, std::int64_t n) : fn(f), items(n) {}
        const std::function<void(std::int64_t)>* fn;
        std::int64_t items;
        std::atomic<std::int64_t> next{0};
        std::atomic<std::int64_t> done{0};
        std::mutex error_mutex;
        std::exception_ptr error;
    };

    // Spins briefly, then yields the core (the machine may be shared).
    static void pause(int spins) {
        if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            std::this_thread::yield();
        }
    }

    static void run_items(job& j) {
        std::int64_t finished = 0;
        for (;;) {
            const std::int64_t i = j.next.fetch_add(1);
            if (i >= j.items) break;
            try {
                (*j.fn)(i);
            } catch (...) {
                std::lock_guard lock(j.error_mutex);
                if (!j.error) j.error = std::current_exception();
                // Skip the rest: claim every remaining item and count it as done.
                const std::int64_t claimed = j.next.exchange(j.items);
                if (claimed < j.items) finished += j.items - claimed;
            }
            ++finished;
        }
        j.done.fetch_add(finished);
    }

    void worker_loop() {
        std::uint64_t seen = 0;
        for (;;) {
            // Spin for a short while (work usually follows within microseconds during a forward), then sleep.
            const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(300);
            for (int spins = 0; generation_.load() == seen && !stopping_.load(); ++spins) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
                if ((spins & 255) == 255 && std::chrono::steady_clock::now() > spin_until) {
                    std::unique_lock lock(mutex_);
                    wake_.wait(lock, [&] { return stopping_.load() || generation_.load() != seen; });
                    break;
                }
            }
            if (stopping_.load()) return;
            seen = generation_.load();
            active_.fetch_add(1);
            if (job* j = current_.load()) run_items(*j);
            active_.fetch_sub(1);
        }
    }

    std::vector<std::thread> workers_;
    std::mutex call_mutex_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::atomic<job*> current_{nullptr};
    std::atomic<int> active_{0};
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<bool> stopping_{false};
};

}  // namespace moe

namespace moe::cpu {
using moe::thread_pool;  // the CPU backend's executor (the name code written before runtime/ uses)
}  // namespace moe::cpu
