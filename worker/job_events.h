// EventPublisher: turns the engine's progress into JobEvents and sends them
// to the server in order, off the engine's thread. Batch events are
// throttled (at most one per `batch_interval`, plus the last of each epoch);
// every other event is sent. A send that fails is retried with the same
// indices (the server stores each index once), so a broken stream loses
// nothing while the worker lives.
//
// Thread-safe: OnEvent from the engine's thread, Flush from any.
#ifndef CONDENSE_WORKER_JOB_EVENTS_H_
#define CONDENSE_WORKER_JOB_EVENTS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/rpc/connection.h"
#include "condense/internal/v1/worker.grpc.pb.h"
#include "worker/engine/progress.h"

namespace condense::worker {

// The JobEvent for an engine event (kind mapped, fields copied).
v1::JobEvent ToJobEvent(const engine::ProgressEvent& event);

class EventPublisher : public engine::ProgressObserver {
 public:
  EventPublisher(const client::Connection* connection, std::string lease_id,
                 std::chrono::milliseconds batch_interval =
                     std::chrono::milliseconds(500));
  ~EventPublisher() override;  // Flushes for at most a few seconds.

  void OnEvent(const engine::ProgressEvent& event) override;
  // Queues an event that did not come from the engine (a message).
  void Publish(v1::JobEvent event);
  // Sends everything queued; true when the server holds it all.
  bool Flush(std::chrono::milliseconds timeout);

 private:
  void Loop();
  bool SendPending();

  const client::Connection* connection_;
  std::unique_ptr<internal::v1::Worker::Stub> stub_;
  const std::string lease_id_;
  const std::chrono::milliseconds batch_interval_;
  std::chrono::steady_clock::time_point last_batch_{};

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::JobEvent> events_;  // Every event of this attempt.
  int64_t acked_ = 0;                 // Indices the server holds.
  bool stopping_ = false;
  std::thread sender_;
};

}  // namespace condense::worker

#endif  // CONDENSE_WORKER_JOB_EVENTS_H_
