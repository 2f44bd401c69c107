// `condense-worker run`: one compression on this machine, from files to
// files, with progress on the terminal. Thread-compatible; installs a SIGINT
// handler for the duration of the run (first ^C cancels within one batch).
#ifndef CONDENSE_WORKER_RUN_COMMAND_H_
#define CONDENSE_WORKER_RUN_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "condense/v1/spec.pb.h"

namespace condense::worker {

struct RunFlags {
  std::string model;
  std::string data;
  std::string train_data;
  std::string eval_data;
  std::string preset;
  std::string spec_file;
  std::vector<std::string> overrides;
  std::string goal;  // "max-drop=0.5pt" and the like (spec::ApplyGoal).
  std::string out;
  std::string checkpoint_dir;
  int threads = 0;
  int stop_after_stages = 0;
  bool quiet = false;
};

// The spec a run uses: the preset (default auto with data or a goal, else
// deep-compression), with the spec file merged over it (JSON merge patch:
// objects merge, lists replace), then the goal, then each --set in order.
absl::StatusOr<v1::CompressionSpec> BuildSpec(const RunFlags& flags);

// Runs and returns the process exit code: 0 done, 1 failed, 2 bad input,
// 130 cancelled. Messages go to stderr.
int RunCommand(const RunFlags& flags);

}  // namespace condense::worker

#endif  // CONDENSE_WORKER_RUN_COMMAND_H_
