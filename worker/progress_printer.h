// Prints engine progress for people: on a terminal one live status line
// redrawn at most five times a second, elsewhere plain log lines (stage and
// epoch boundaries only). Writes to the FILE it is given; not thread-safe.
#ifndef CONDENSE_WORKER_PROGRESS_PRINTER_H_
#define CONDENSE_WORKER_PROGRESS_PRINTER_H_

#include <chrono>
#include <cstdio>

#include "worker/engine/progress.h"

namespace condense::worker {

class ProgressPrinter : public engine::ProgressObserver {
 public:
  ProgressPrinter(FILE* out, bool live);
  void OnEvent(const engine::ProgressEvent& event) override;

 private:
  void Line(const char* text);

  FILE* out_;
  bool live_;
  bool line_open_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace condense::worker

#endif  // CONDENSE_WORKER_PROGRESS_PRINTER_H_
