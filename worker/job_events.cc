#include "worker/job_events.h"

#include <utility>

namespace condense::worker {

namespace iv1 = ::condense::internal::v1;
using Kind = engine::ProgressEvent::Kind;

v1::JobEvent ToJobEvent(const engine::ProgressEvent& e) {
  v1::JobEvent out;
  switch (e.kind) {
    case Kind::kRunStarted:
      out.set_kind(v1::JobEvent::RUN_STARTED);
      break;
    case Kind::kStageStarted:
      out.set_kind(v1::JobEvent::STAGE_STARTED);
      break;
    case Kind::kBatch:
      out.set_kind(v1::JobEvent::BATCH);
      break;
    case Kind::kEpochFinished:
      out.set_kind(v1::JobEvent::EPOCH_FINISHED);
      break;
    case Kind::kStageFinished:
      out.set_kind(v1::JobEvent::STAGE_FINISHED);
      break;
    case Kind::kCheckpointSaved:
      out.set_kind(v1::JobEvent::CHECKPOINT_SAVED);
      break;
    case Kind::kMessage:
      out.set_kind(v1::JobEvent::MESSAGE);
      break;
    case Kind::kRunFinished:
      out.set_kind(v1::JobEvent::RUN_FINISHED);
      break;
  }
  out.set_stage(e.stage);
  out.set_stage_index(e.stage_index);
  out.set_stage_count(e.stage_count);
  out.set_epoch(e.epoch);
  out.set_epochs(e.epochs);
  out.set_batch(e.batch);
  out.set_batches(e.batches);
  out.set_loss(e.loss);
  out.set_accuracy(e.accuracy);
  out.set_sparsity(e.sparsity);
  out.set_ratio(e.ratio);
  out.set_samples_per_second(e.samples_per_second);
  out.set_eta_seconds(e.eta_seconds);
  out.set_message(e.message);
  return out;
}

EventPublisher::EventPublisher(const client::Connection* connection,
                               std::string lease_id,
                               std::chrono::milliseconds batch_interval)
    : connection_(connection),
      stub_(iv1::Worker::NewStub(connection->channel())),
      lease_id_(std::move(lease_id)),
      batch_interval_(batch_interval),
      sender_([this] { Loop(); }) {}

EventPublisher::~EventPublisher() {
  Flush(std::chrono::seconds(5));
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  sender_.join();
}

void EventPublisher::OnEvent(const engine::ProgressEvent& event) {
  if (event.kind == Kind::kCheckpointSaved) return;  // The server logs it.
  if (event.kind == Kind::kBatch && event.batch != event.batches) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_batch_ < batch_interval_) return;
    last_batch_ = now;
  }
  Publish(ToJobEvent(event));
}

void EventPublisher::Publish(v1::JobEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(event));
  cv_.notify_all();
}

bool EventPublisher::SendPending() {
  iv1::PublishEventsRequest request;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (acked_ >= static_cast<int64_t>(events_.size())) return true;
    request.set_lease_id(lease_id_);
    request.set_first_index(acked_);
    for (size_t i = acked_; i < events_.size(); ++i) {
      *request.add_events() = events_[i];
    }
  }
  auto context = connection_->NewContext(std::chrono::seconds(10));
  iv1::PublishEventsResponse response;
  auto writer = stub_->PublishEvents(context.get(), &response);
  writer->Write(request);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  acked_ = std::max(acked_, response.next_index());
  cv_.notify_all();
  return acked_ >= static_cast<int64_t>(events_.size());
}

void EventPublisher::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(250), [this] {
      return stopping_ || acked_ < static_cast<int64_t>(events_.size());
    });
    if (stopping_) return;
    if (acked_ >= static_cast<int64_t>(events_.size())) continue;
    lock.unlock();
    if (!SendPending()) {
      // The server is away or restarting: try again shortly.
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    lock.lock();
  }
}

bool EventPublisher::Flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.notify_all();
  return cv_.wait_until(lock, deadline, [this] {
    return acked_ >= static_cast<int64_t>(events_.size());
  });
}

}  // namespace condense::worker
