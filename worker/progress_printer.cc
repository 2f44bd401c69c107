#include "worker/progress_printer.h"

#include <string>

#include "absl/strings/str_format.h"

namespace condense::worker {
namespace {

using Kind = engine::ProgressEvent::Kind;

std::string Prefix(const engine::ProgressEvent& e) {
  return absl::StrFormat("[%d/%d %s]", e.stage_index + 1, e.stage_count,
                         e.stage);
}

std::string Accuracy(double a) {
  return a < 0 ? std::string("n/a") : absl::StrFormat("%.4f", a);
}

}  // namespace

ProgressPrinter::ProgressPrinter(FILE* out, bool live)
    : out_(out), live_(live) {}

void ProgressPrinter::Line(const char* text) {
  if (line_open_) std::fputs("\r\033[K", out_);
  line_open_ = false;
  std::fputs(text, out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

void ProgressPrinter::OnEvent(const engine::ProgressEvent& e) {
  switch (e.kind) {
    case Kind::kRunStarted:
    case Kind::kMessage:
      Line(e.stage.empty() ? e.message.c_str()
                           : (Prefix(e) + " " + e.message).c_str());
      return;
    case Kind::kStageStarted:
      Line((Prefix(e) + " started").c_str());
      return;
    case Kind::kBatch: {
      if (!live_) return;
      const auto now = std::chrono::steady_clock::now();
      if (e.batch != e.batches &&
          now - last_draw_ < std::chrono::milliseconds(200)) {
        return;
      }
      last_draw_ = now;
      std::string eta = e.eta_seconds < 0
                            ? std::string("?")
                            : absl::StrFormat("%.0fs", e.eta_seconds);
      std::fprintf(out_,
                   "\r\033[K%s epoch %d/%d batch %lld/%lld loss %.4f "
                   "%.0f samples/s, stage ETA %s",
                   Prefix(e).c_str(), e.epoch, e.epochs,
                   static_cast<long long>(e.batch),
                   static_cast<long long>(e.batches), e.loss,
                   e.samples_per_second, eta.c_str());
      std::fflush(out_);
      line_open_ = true;
      return;
    }
    case Kind::kEpochFinished:
      Line(absl::StrFormat("%s epoch %d/%d loss %.4f accuracy %s sparsity "
                           "%.3f",
                           Prefix(e), e.epoch, e.epochs, e.loss,
                           Accuracy(e.accuracy), e.sparsity)
               .c_str());
      return;
    case Kind::kStageFinished:
      Line(absl::StrFormat("%s finished: accuracy %s sparsity %.3f "
                           "ratio (pruned+quantized) %.1fx",
                           Prefix(e), Accuracy(e.accuracy), e.sparsity, e.ratio)
               .c_str());
      return;
    case Kind::kCheckpointSaved:
      return;  // The stage line said it all.
    case Kind::kRunFinished:
      Line(absl::StrFormat("done: compression ratio %.1fx, accuracy %s",
                           e.ratio, Accuracy(e.accuracy))
               .c_str());
      return;
  }
}

}  // namespace condense::worker
