// LeasedJob: one job a worker holds a lease on, from fetching its inputs to
// Complete or Fail. Runs on the calling thread, with a heartbeat thread
// beside it. Not thread-safe, except Stop.
#ifndef CONDENSE_WORKER_LEASED_JOB_H_
#define CONDENSE_WORKER_LEASED_JOB_H_

#include <atomic>
#include <string>

#include "client/rpc/connection.h"
#include "condense/internal/v1/worker.grpc.pb.h"
#include "worker/engine/progress.h"

namespace condense::worker {

struct LeasedJobOptions {
  std::string cache_dir;
  std::string device;  // Overrides spec.device unless "auto".
  int threads = 0;
  std::string worker_name;
};

class LeasedJob {
 public:
  LeasedJob(const client::Connection* connection,
            internal::v1::LeaseResponse lease, LeasedJobOptions options);

  // Runs the job to its end and reports it. Never throws.
  void Run();

  // Stops the running engine within one batch and releases the job to the
  // server (it is requeued without spending an attempt). Any thread.
  void Release() {
    released_ = true;
    cancel_.Cancel();
  }

 private:
  absl::Status FetchInputs(std::string* model_path, std::string* data_dir,
                           std::string* train, std::string* eval);
  absl::StatusOr<std::string> Fetch(const v1::Digest& digest);
  void Heartbeats();
  absl::Status UploadArtifacts(const std::string& out_dir,
                               v1::JobResult* result);
  void ReportFailure(const absl::Status& status);

  const client::Connection* connection_;
  std::unique_ptr<internal::v1::Worker::Stub> stub_;
  const internal::v1::LeaseResponse lease_;
  const LeasedJobOptions options_;
  const std::string job_dir_;
  engine::CancelFlag cancel_;
  std::atomic<bool> released_{false};
  std::atomic<bool> cancel_requested_{false};
  std::atomic<bool> lease_lost_{false};
  std::atomic<bool> done_{false};
};

}  // namespace condense::worker

#endif  // CONDENSE_WORKER_LEASED_JOB_H_
