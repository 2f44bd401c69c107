// The condense_* metric families and the structured log lines about jobs:
// a JobObserver that counts and logs what JobCore reports, plus collectors
// that read state (jobs by state, blob store size) at scrape time.
// Thread-safe. Everything passed in must outlive it.
#ifndef CONDENSE_SERVER_SERVER_METRICS_H_
#define CONDENSE_SERVER_SERVER_METRICS_H_

#include <atomic>
#include <functional>

#include "server/blobs/blob_service.h"
#include "server/blobs/blob_store.h"
#include "server/job_core.h"
#include "server/metrics/registry.h"
#include "server/store/metadata_store.h"

namespace condense::server {

class ServerMetrics : public JobObserver {
 public:
  // `waiting_workers` reports the workers in a Lease long-poll now.
  ServerMetrics(metrics::Registry* registry, MetadataStore* store,
                BlobStore* blobs, const BlobService* blob_service,
                const std::function<int64_t()>& waiting_workers);

  void OnJobCreated(const v1::Job& job) override;
  void OnJobLeased(const v1::Job& job, const std::string& worker) override;
  void OnJobChanged(const v1::Job& job) override;
  void OnStageFinished(const std::string& job, const std::string& stage,
                       double seconds) override;

  void OnLeasesExpired(int count);
  void OnLocalWorkerRestarted();

 private:
  metrics::Counter& jobs_created_;
  metrics::Family<metrics::Counter>& jobs_finished_;
  metrics::Counter& jobs_requeued_;
  metrics::Counter& leases_granted_;
  metrics::Counter& leases_expired_;
  metrics::Counter& worker_restarts_;
  metrics::Family<metrics::Histogram>& job_seconds_;
  metrics::Histogram& queue_wait_seconds_;
  metrics::Family<metrics::Histogram>& stage_seconds_;
};

}  // namespace condense::server

#endif  // CONDENSE_SERVER_SERVER_METRICS_H_
