#include "common/event_loop.h"

#include <sys/epoll.h>

#include <algorithm>

namespace hsw {

EventLoop::EventLoop() : epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {}
EventLoop::~EventLoop() = default;

Status EventLoop::Add(int fd, uint32_t events, FdCallback callback) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return ErrnoErr("epoll_ctl ADD fd {}", fd);
  callbacks_[fd] = std::make_shared<FdCallback>(std::move(callback));
  return Ok();
}

Status EventLoop::Modify(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &ev) < 0) return ErrnoErr("epoll_ctl MOD fd {}", fd);
  return Ok();
}

void EventLoop::Remove(int fd) {
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  callbacks_.erase(fd);
}

EventLoop::TimerId EventLoop::AddTimer(std::chrono::milliseconds delay,
                                       std::function<void()> callback, bool repeat) {
  TimerId id = next_timer_id_++;
  timers_[id] = Timer{Clock::now() + delay, delay, repeat, std::move(callback)};
  return id;
}

void EventLoop::CancelTimer(TimerId id) { timers_.erase(id); }

void EventLoop::Post(std::function<void()> callback) { posted_.push_back(std::move(callback)); }

int EventLoop::NextTimeoutMs(int limit_ms) const {
  if (!posted_.empty()) return 0;
  int timeout = limit_ms;
  auto now = Clock::now();
  for (const auto& [id, timer] : timers_) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timer.due - now).count();
    int wait = static_cast<int>(std::max<int64_t>(0, ms + 1));
    if (timeout < 0 || wait < timeout) timeout = wait;
  }
  return timeout;
}

void EventLoop::RunTimers() {
  auto now = Clock::now();
  std::vector<TimerId> due;
  for (const auto& [id, timer] : timers_) {
    if (timer.due <= now) due.push_back(id);
  }
  for (TimerId id : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled by an earlier timer
    auto callback = it->second.callback;
    if (it->second.repeat) {
      it->second.due = now + it->second.period;
    } else {
      timers_.erase(it);
    }
    callback();
  }
}

void EventLoop::RunOnce(int timeout_ms) {
  epoll_event events[64];
  int n = epoll_wait(epoll_fd_.get(), events, 64, NextTimeoutMs(timeout_ms));
  for (int i = 0; i < n; ++i) {
    auto it = callbacks_.find(events[i].data.fd);
    if (it == callbacks_.end()) continue;
    auto callback = it->second;  // keeps the callback alive if it removes itself
    (*callback)(events[i].events);
  }
  RunTimers();
  while (!posted_.empty()) {
    auto posted = std::move(posted_);
    posted_.clear();
    for (auto& callback : posted) callback();
  }
}

void EventLoop::Run() {
  stopping_ = false;
  while (!stopping_) RunOnce(-1);
}

}  // namespace hsw
