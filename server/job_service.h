// The Jobs service: a thin adapter over JobCore and MetadataStore. WaitJob
// and WatchJob wait on the LongPoller, never on gRPC's threads.
// Thread-safe.
#ifndef CONDENSE_SERVER_JOB_SERVICE_H_
#define CONDENSE_SERVER_JOB_SERVICE_H_

#include "condense/v1/jobs.grpc.pb.h"
#include "server/auth.h"
#include "server/clock.h"
#include "server/job_core.h"
#include "server/long_poll.h"
#include "server/store/metadata_store.h"

namespace condense::server {

class JobService final : public v1::Jobs::CallbackService {
 public:
  JobService(JobCore* core, MetadataStore* store, LongPoller* poller,
             const Authenticator* auth, const Clock* clock)
      : core_(core),
        store_(store),
        poller_(poller),
        auth_(auth),
        clock_(clock) {}

  grpc::ServerUnaryReactor* CreateJob(grpc::CallbackServerContext* context,
                                      const v1::CreateJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const v1::GetJobRequest* request,
                                   v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const v1::CancelJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerUnaryReactor* WaitJob(grpc::CallbackServerContext* context,
                                    const v1::WaitJobRequest* request,
                                    v1::Job* response) override;
  grpc::ServerWriteReactor<v1::JobEvent>* WatchJob(
      grpc::CallbackServerContext* context,
      const v1::WatchJobRequest* request) override;

 private:
  class WatchReactor;

  JobCore* core_;
  MetadataStore* store_;
  LongPoller* poller_;
  const Authenticator* auth_;
  const Clock* clock_;
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_JOB_SERVICE_H_
