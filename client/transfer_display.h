// Progress of an upload or download for people: on a terminal, one line
// redrawn in place (bar, bytes, bytes/s, ETA) at most ~10 times a second;
// elsewhere (logs, pipes) nothing until one final line. Rendering is split
// out as pure functions for tests. A TransferDisplay is used by one thread
// at a time.
#ifndef CONDENSE_CLIENT_TRANSFER_DISPLAY_H_
#define CONDENSE_CLIENT_TRANSFER_DISPLAY_H_

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"
#include "client/rpc/blob_transfer.h"

namespace condense::client {

// "model.pt  [####------]  40%  12.0 MiB / 30.0 MiB  5.1 MiB/s  ETA 4s".
// `rate` in bytes per second (<= 0: not known yet).
std::string RenderTransferLine(absl::string_view label, int64_t done,
                               int64_t total, double rate);

// "model.pt: 30.0 MiB in 6s (5.0 MiB/s)".
std::string RenderTransferSummary(absl::string_view label, int64_t total,
                                  double seconds);

class TransferDisplay {
 public:
  // Writes to `out` (the CLI passes stderr, keeping stdout for results).
  TransferDisplay(std::ostream* out, bool terminal, std::string label);

  // A callback for TransferOptions::progress that draws this display.
  TransferProgress Callback();

  // Replaces the live line with the final one (on a terminal) or prints it;
  // `note` is appended in parentheses when not empty ("resumed at 3 MiB").
  void Finish(absl::string_view note = "");

 private:
  using Clock = std::chrono::steady_clock;
  void Update(int64_t done, int64_t total);

  std::ostream* out_;
  bool terminal_;
  std::string label_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
  bool drawn_ = false;
  // Bytes already there at the first report (resumed or deduplicated), not
  // counted in the rate.
  int64_t first_done_ = -1;
  int64_t done_ = 0;
  int64_t total_ = 0;
};

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_TRANSFER_DISPLAY_H_
