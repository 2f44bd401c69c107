#include "server/long_poll.h"

#include <utility>

namespace condense::server {

LongPoller::LongPoller(std::chrono::milliseconds tick)
    : tick_(tick), thread_([this] { Loop(); }) {}

LongPoller::~LongPoller() { Shutdown(); }

void LongPoller::Add(Check check) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      waiters_.push_back(std::move(check));
      woken_ = true;
      cv_.notify_one();
      return;
    }
  }
  check(true);
}

void LongPoller::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  woken_ = true;
  cv_.notify_one();
}

void LongPoller::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_one();
  }
  thread_.join();
}

void LongPoller::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait_for(lock, tick_, [this] { return woken_ || stopping_; });
    woken_ = false;
    const bool stopping = stopping_;
    // Run the checks without the lock so they may take their time (a
    // database read) while Add and Wake stay quick.
    std::list<Check> batch = std::move(waiters_);
    waiters_.clear();
    lock.unlock();
    for (auto it = batch.begin(); it != batch.end();) {
      it = (*it)(stopping) ? batch.erase(it) : std::next(it);
    }
    lock.lock();
    // Waiters added meanwhile go after the older ones: FIFO for leases.
    batch.splice(batch.end(), waiters_);
    waiters_ = std::move(batch);
    if (stopping) {
      // Waiters that did not finish on shutdown are dropped; checks must
      // honour shutting_down.
      waiters_.clear();
      return;
    }
  }
}

}  // namespace condense::server
