// sidecar/periodic: a thread that runs one pass every period until Stop(),
// for the sidecar's pollers (supervisor, config watcher).  Stop() wakes it at
// once and returns after the pass in progress, if any, has finished.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace hsw::sidecar {

class PeriodicThread {
 public:
  PeriodicThread() = default;
  ~PeriodicThread() { Stop(); }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  void Start(std::chrono::milliseconds period, std::function<void()> pass) {
    thread_ = std::thread([this, period, pass = std::move(pass)] {
      std::unique_lock<std::mutex> lock(mutex_);
      while (!stop_) {
        lock.unlock();
        pass();
        lock.lock();
        wake_.wait_for(lock, period, [this] { return stop_; });
      }
    });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hsw::sidecar
