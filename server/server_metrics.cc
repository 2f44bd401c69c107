#include "server/server_metrics.h"

#include <string>
#include <utility>
#include <vector>

#include "spdlog/spdlog.h"

namespace condense::server {
namespace {

using metrics::CollectedSample;

std::vector<double> DurationBuckets() {
  // 0.1 s to ~30 min.
  return metrics::ExponentialBuckets(0.1, 2.0, 15);
}

std::string StateLabel(v1::Job::State state) {
  std::string name = v1::Job::State_Name(state);
  for (char& c : name) c = static_cast<char>(std::tolower(c));
  return name;
}

}  // namespace

ServerMetrics::ServerMetrics(metrics::Registry* registry, MetadataStore* store,
                             BlobStore* blobs, const BlobService* blob_service,
                             const std::function<int64_t()>& waiting_workers)
    : jobs_created_(registry
                        ->AddCounter("condense_jobs_created_total",
                                     "Jobs accepted by CreateJob.", {})
                        .WithLabels({})),
      jobs_finished_(registry->AddCounter(
          "condense_jobs_finished_total",
          "Jobs that reached a final state, by that state.", {"state"})),
      jobs_requeued_(registry
                         ->AddCounter("condense_jobs_requeued_total",
                                      "Jobs put back in the queue after "
                                      "their worker was lost or released "
                                      "them.",
                                      {})
                         .WithLabels({})),
      leases_granted_(registry
                          ->AddCounter("condense_leases_granted_total",
                                       "Leases handed to workers.", {})
                          .WithLabels({})),
      leases_expired_(registry
                          ->AddCounter("condense_leases_expired_total",
                                       "Leases that expired without a "
                                       "heartbeat.",
                                       {})
                          .WithLabels({})),
      worker_restarts_(registry
                           ->AddCounter("condense_local_worker_restarts_total",
                                        "Embedded worker processes restarted "
                                        "after they died.",
                                        {})
                           .WithLabels({})),
      job_seconds_(registry->AddHistogram(
          "condense_job_duration_seconds",
          "From first lease to the final state, by final state.", {"state"},
          DurationBuckets())),
      queue_wait_seconds_(registry
                              ->AddHistogram("condense_job_queue_wait_seconds",
                                             "From submission to the first "
                                             "lease.",
                                             {}, DurationBuckets())
                              .WithLabels({})),
      stage_seconds_(registry->AddHistogram(
          "condense_stage_duration_seconds",
          "Duration of finished engine stages, by stage.", {"stage"},
          DurationBuckets())) {
  registry->AddGaugeCollector(
      "condense_jobs", "Jobs by state now.", {"state"}, [store] {
        std::vector<CollectedSample> samples;
        auto counts = store->CountJobsByState();
        for (v1::Job::State s :
             {v1::Job::QUEUED, v1::Job::RUNNING, v1::Job::SUCCEEDED,
              v1::Job::FAILED, v1::Job::CANCELLED}) {
          const double n = counts.ok() ? static_cast<double>((*counts)[s]) : 0;
          samples.push_back({{StateLabel(s)}, n});
        }
        return samples;
      });
  registry->AddGaugeCollector(
      "condense_queue_depth", "Jobs waiting for a worker.", {}, [store] {
        auto counts = store->CountJobsByState();
        return std::vector<CollectedSample>{
            {{},
             counts.ok() ? static_cast<double>((*counts)[v1::Job::QUEUED])
                         : 0}};
      });
  registry->AddGaugeCollector(
      "condense_leases_active", "Jobs leased to a worker now.", {}, [store] {
        auto counts = store->CountJobsByState();
        return std::vector<CollectedSample>{
            {{},
             counts.ok() ? static_cast<double>((*counts)[v1::Job::RUNNING])
                         : 0}};
      });
  registry->AddGaugeCollector(
      "condense_workers_connected",
      "Workers holding a lease or waiting in a Lease call.", {},
      [store, waiting_workers] {
        auto counts = store->CountJobsByState();
        const double running =
            counts.ok() ? static_cast<double>((*counts)[v1::Job::RUNNING]) : 0;
        return std::vector<CollectedSample>{
            {{}, running + static_cast<double>(waiting_workers())}};
      });
  registry->AddCounterCollector(
      "condense_blob_received_bytes_total", "Blob bytes received by uploads.",
      {}, [blob_service] {
        return std::vector<CollectedSample>{
            {{}, static_cast<double>(blob_service->bytes_received())}};
      });
  registry->AddCounterCollector(
      "condense_blob_sent_bytes_total", "Blob bytes sent by downloads.", {},
      [blob_service] {
        return std::vector<CollectedSample>{
            {{}, static_cast<double>(blob_service->bytes_sent())}};
      });
  registry->AddGaugeCollector(
      "condense_blob_store_bytes", "Bytes of stored blobs (each once).", {},
      [blobs] {
        return std::vector<CollectedSample>{
            {{}, static_cast<double>(blobs->Stats().total_bytes)}};
      });
  registry->AddGaugeCollector(
      "condense_blob_store_blobs", "Distinct stored blobs.", {}, [blobs] {
        return std::vector<CollectedSample>{
            {{}, static_cast<double>(blobs->Stats().blobs)}};
      });
}

void ServerMetrics::OnJobCreated(const v1::Job& job) {
  jobs_created_.Increment();
  spdlog::info("job={} event=created model={} preset={} priority={}",
               job.name(), job.model(), job.spec().preset(), job.priority());
}

void ServerMetrics::OnJobLeased(const v1::Job& job, const std::string& worker) {
  leases_granted_.Increment();
  if (job.attempts() == 1) {
    queue_wait_seconds_.Observe(
        (job.start_time_unix_ms() - job.create_time_unix_ms()) / 1000.0);
  }
  spdlog::info("job={} event=leased worker={} attempt={}/{}", job.name(),
               worker, job.attempts(), job.max_attempts());
}

void ServerMetrics::OnJobChanged(const v1::Job& job) {
  const std::string state = StateLabel(job.state());
  if (job.state() == v1::Job::QUEUED) {
    jobs_requeued_.Increment();
    spdlog::warn("job={} event=requeued attempts={}/{}", job.name(),
                 job.attempts(), job.max_attempts());
    return;
  }
  if (job.state() == v1::Job::RUNNING) {
    spdlog::info("job={} event=cancel_requested", job.name());
    return;
  }
  jobs_finished_.WithLabels({state}).Increment();
  if (job.start_time_unix_ms() > 0) {
    job_seconds_.WithLabels({state}).Observe(
        (job.end_time_unix_ms() - job.start_time_unix_ms()) / 1000.0);
  }
  if (job.state() == v1::Job::SUCCEEDED) {
    spdlog::info("job={} event=succeeded ratio={:.1f} accuracy={:.4f}",
                 job.name(), job.result().ratio(),
                 job.result().accuracy_after());
  } else {
    spdlog::warn("job={} event={} code={} message=\"{}\"", job.name(), state,
                 job.error().code(), job.error().message());
  }
}

void ServerMetrics::OnStageFinished(const std::string& job,
                                    const std::string& stage, double seconds) {
  stage_seconds_.WithLabels({stage}).Observe(seconds);
  spdlog::info("job={} event=stage_finished stage={} seconds={:.1f}", job,
               stage, seconds);
}

void ServerMetrics::OnLeasesExpired(int count) { leases_expired_.Add(count); }

void ServerMetrics::OnLocalWorkerRestarted() { worker_restarts_.Increment(); }

}  // namespace condense::server
