#include "daemon/worker_pool.h"

#include <pthread.h>

#include <utility>

namespace tessera::agent::daemon {

WorkerPool::WorkerPool(unsigned threads, std::string name) : size_(threads), name_(std::move(name)) {
  if (size_ == 0) size_ = std::thread::hardware_concurrency();
  if (size_ == 0) size_ = 1;
}

WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::start() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (!threads_.empty() || stopping_) return;
  for (unsigned i = 0; i < size_; ++i) {
    threads_.emplace_back([this] { work(); });
    // Thread names show in ps -L and debuggers; at most 15 characters.
    ::pthread_setname_np(threads_.back().native_handle(), name_.substr(0, 15).c_str());
  }
}

void WorkerPool::submit(uint64_t lane, Job job) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (stopping_) return;
    auto& queue = lanes_[lane];
    if (queue.empty()) turns_.push_back(lane);
    queue.push_back(std::move(job));
  }
  ready_.notify_one();
}

void WorkerPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
    lanes_.clear();
    turns_.clear();
    threads.swap(threads_);
  }
  ready_.notify_all();
  for (auto& t : threads) t.join();
}

void WorkerPool::work() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !turns_.empty(); });
      if (stopping_) return;
      uint64_t lane = turns_.front();
      turns_.pop_front();
      auto it = lanes_.find(lane);
      job = std::move(it->second.front());
      it->second.pop_front();
      if (it->second.empty()) {
        lanes_.erase(it);
      } else {
        turns_.push_back(lane);  // its next job waits for every other lane's turn
      }
    }
    job();
  }
}

}  // namespace tessera::agent::daemon
