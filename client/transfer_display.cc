#include "client/transfer_display.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "client/format.h"

namespace condense::client {

std::string RenderTransferLine(absl::string_view label, int64_t done,
                               int64_t total, double rate) {
  const double fraction = Fraction(done, total);
  const double eta = rate > 0 ? static_cast<double>(total - done) / rate : -1.0;
  return absl::StrFormat("%s  %s %3.0f%%  %s / %s  %s  ETA %s", label,
                         RenderBar(fraction, 24), 100 * fraction,
                         FormatBytes(done), FormatBytes(total),
                         FormatRate(rate), FormatDuration(eta));
}

std::string RenderTransferSummary(absl::string_view label, int64_t total,
                                  double seconds) {
  const double rate = seconds > 0 ? static_cast<double>(total) / seconds : 0;
  return absl::StrFormat("%s: %s in %s (%s)", label, FormatBytes(total),
                         FormatDuration(seconds), FormatRate(rate));
}

TransferDisplay::TransferDisplay(std::ostream* out, bool terminal,
                                 std::string label)
    : out_(out), terminal_(terminal), label_(std::move(label)) {}

TransferProgress TransferDisplay::Callback() {
  return [this](int64_t done, int64_t total) { Update(done, total); };
}

void TransferDisplay::Update(int64_t done, int64_t total) {
  if (first_done_ < 0) first_done_ = done;
  done_ = done;
  total_ = total;
  if (!terminal_) return;
  const auto now = Clock::now();
  // At most ~10 redraws a second, but always the last one.
  if (drawn_ && done != total &&
      now - last_draw_ < std::chrono::milliseconds(100)) {
    return;
  }
  last_draw_ = now;
  drawn_ = true;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate =
      seconds > 0 ? static_cast<double>(done - first_done_) / seconds : 0;
  *out_ << "\r\033[K" << RenderTransferLine(label_, done, total, rate)
        << std::flush;
}

void TransferDisplay::Finish(absl::string_view note) {
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start_).count();
  if (terminal_ && drawn_) *out_ << "\r\033[K";
  *out_ << RenderTransferSummary(label_, total_, seconds);
  if (!note.empty()) *out_ << " (" << note << ")";
  *out_ << "\n" << std::flush;
}

}  // namespace condense::client
