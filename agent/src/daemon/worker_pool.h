// A fixed pool of threads for work that must stay off the event loop
// (signatures, confirmation prompts).
//
// Jobs are queued per lane (the agent uses one lane per connection) and the
// threads take lanes in turn, so one connection that pipelines many slow
// signatures cannot starve the others: each waiting lane gets the next free
// thread before any lane gets a second one.
#ifndef TESSERA_AGENT_DAEMON_WORKER_POOL_H_
#define TESSERA_AGENT_DAEMON_WORKER_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace tessera::agent::daemon {

class WorkerPool {
 public:
  using Job = std::function<void()>;

  // threads == 0 means one per CPU. No thread starts before start(), so a
  // pool may be built before the daemon forks.
  WorkerPool(unsigned threads, std::string name);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void start();
  // Thread-safe. Jobs submitted after shutdown() are dropped.
  void submit(uint64_t lane, Job job);
  // Drops queued jobs and waits for the running ones. Idempotent.
  void shutdown();

  unsigned size() const { return size_; }

 private:
  void work();

  unsigned size_;
  std::string name_;
  std::mutex mutex_;
  std::condition_variable ready_;
  bool stopping_ = false;
  std::unordered_map<uint64_t, std::deque<Job>> lanes_;
  std::deque<uint64_t> turns_;  // lanes with queued jobs, in the order they are served
  std::vector<std::thread> threads_;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_WORKER_POOL_H_
