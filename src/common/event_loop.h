// EventLoop: one epoll set, timers and deferred calls, for the control-plane
// processes (hsw-vswitchd, hsw-ctl's waits).  Single-threaded: every callback
// runs on the thread that calls Run().  The datapath's forwarding loop does not
// use this class; it has its own poll loop tuned for packets.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace hsw {

class EventLoop {
 public:
  using FdCallback = std::function<void(uint32_t epoll_events)>;
  using TimerId = uint64_t;
  using Clock = std::chrono::steady_clock;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Watches `fd` for `events` (EPOLLIN, EPOLLOUT...).  The loop does not own fd.
  Status Add(int fd, uint32_t events, FdCallback callback);
  Status Modify(int fd, uint32_t events);
  // Safe to call from inside a callback, including the fd's own.
  void Remove(int fd);

  // Runs `callback` once after `delay`, or every `delay` if `repeat`.
  TimerId AddTimer(std::chrono::milliseconds delay, std::function<void()> callback,
                   bool repeat = false);
  void CancelTimer(TimerId id);
  // Runs `callback` on the next iteration, after the current callback returns.
  void Post(std::function<void()> callback);

  // Runs until Stop().
  void Run();
  // One iteration: waits at most `timeout_ms` (-1 = until something happens).
  void RunOnce(int timeout_ms);
  void Stop() { stopping_ = true; }
  bool stopping() const { return stopping_; }

 private:
  struct Timer {
    Clock::time_point due;
    std::chrono::milliseconds period;
    bool repeat;
    std::function<void()> callback;
  };
  int NextTimeoutMs(int limit_ms) const;
  void RunTimers();

  UniqueFd epoll_fd_;
  std::unordered_map<int, std::shared_ptr<FdCallback>> callbacks_;
  std::map<TimerId, Timer> timers_;
  std::vector<std::function<void()>> posted_;
  TimerId next_timer_id_ = 1;
  bool stopping_ = false;
};

}  // namespace hsw
