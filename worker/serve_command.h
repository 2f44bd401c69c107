// `condense-worker --server ADDR`: the serving mode. Leases jobs from a
// condense server, fetches their inputs by digest (cached and verified),
// runs the engine, streams progress, heartbeats, uploads checkpoints and
// artifacts, and completes or fails each job. Reconnects with backoff when
// the server goes away. SIGTERM/SIGINT: stop the running job within one
// batch, release it to the server (it resumes from its last checkpoint),
// exit 0.
#ifndef CONDENSE_WORKER_SERVE_COMMAND_H_
#define CONDENSE_WORKER_SERVE_COMMAND_H_

#include <string>

#include "client/rpc/connection.h"

namespace condense::worker {

struct ServeFlags {
  client::ConnectionOptions connection;
  // "auto", "cpu" or "cuda": overrides each job's spec.device.
  std::string device = "auto";
  // Inputs by digest, and job directories. Default ~/.cache/condense-worker.
  std::string cache_dir;
  int threads = 0;
  // Stable worker name; default host:pid.
  std::string name;
  // Exit after this many jobs (0: serve forever). For tests and batch use.
  int max_jobs = 0;
};

// Returns the process exit code.
int ServeCommand(const ServeFlags& flags);

}  // namespace condense::worker

#endif  // CONDENSE_WORKER_SERVE_COMMAND_H_
