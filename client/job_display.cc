#include "client/job_display.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/format.h"
#include "proto/job_state.h"

namespace condense::client {
namespace {

using Kind = v1::JobEvent::Kind;

std::string Clip(std::string line, int width) {
  if (width > 0 && static_cast<int>(line.size()) > width) line.resize(width);
  return line;
}

std::string TimeOfDay(int64_t unix_ms) {
  if (unix_ms <= 0) return "--:--:--";
  return absl::FormatTime("%H:%M:%S", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

std::string Timestamp(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

std::string StagePrefix(const v1::JobEvent& e) {
  if (e.stage().empty()) return "";
  return absl::StrFormat(" [%d/%d %s]", e.stage_index() + 1, e.stage_count(),
                         e.stage());
}

std::string KindName(Kind kind) {
  std::string name = v1::JobEvent::Kind_Name(kind);
  return name.empty() ? absl::StrCat("kind ", static_cast<int>(kind))
                      : absl::AsciiStrToLower(name);
}

std::string Ratio(double ratio) {
  return ratio > 0 ? absl::StrFormat("%.1fx", ratio) : std::string("-");
}

}  // namespace

std::string JobStateName(v1::Job::State state) {
  const std::string& name = v1::Job::State_Name(state);
  return name.empty() ? absl::StrCat(static_cast<int>(state)) : name;
}

bool ParseJobState(const std::string& name, v1::Job::State* state) {
  return v1::Job::State_Parse(absl::AsciiStrToUpper(name), state) &&
         *state != v1::Job::STATE_UNSPECIFIED;
}

std::string RenderEventLine(const v1::JobEvent& e) {
  std::string line =
      absl::StrFormat("%s #%d %s%s", TimeOfDay(e.time_unix_ms()), e.sequence(),
                      KindName(e.kind()), StagePrefix(e));
  switch (e.kind()) {
    case v1::JobEvent::STATE_CHANGED:
      absl::StrAppend(&line, " ", JobStateName(e.state()));
      if (e.attempt() > 0) absl::StrAppend(&line, " attempt ", e.attempt());
      if (e.has_error() && !e.error().message().empty()) {
        absl::StrAppend(&line, ": ", e.error().message());
      }
      break;
    case v1::JobEvent::BATCH:
      absl::StrAppend(
          &line, absl::StrFormat(
                     " epoch %d/%d batch %d/%d loss %.4f %.0f samples/s "
                     "ETA %s",
                     e.epoch(), e.epochs(), e.batch(), e.batches(), e.loss(),
                     e.samples_per_second(), FormatDuration(e.eta_seconds())));
      break;
    case v1::JobEvent::EPOCH_FINISHED:
      absl::StrAppend(&line,
                      absl::StrFormat(" epoch %d/%d loss %.4f accuracy %s "
                                      "sparsity %s",
                                      e.epoch(), e.epochs(), e.loss(),
                                      FormatPercent(e.accuracy()),
                                      FormatPercent(e.sparsity())));
      break;
    case v1::JobEvent::STAGE_FINISHED:
    case v1::JobEvent::RUN_FINISHED:
      absl::StrAppend(
          &line,
          absl::StrFormat(" accuracy %s sparsity %s ratio %s",
                          FormatPercent(e.accuracy()),
                          FormatPercent(e.sparsity()), Ratio(e.ratio())));
      break;
    case v1::JobEvent::CHECKPOINT_SAVED:
      absl::StrAppend(&line, " stages done ", e.stages_done());
      break;
    default:
      break;
  }
  if (!e.message().empty()) absl::StrAppend(&line, ": ", e.message());
  return line;
}

void ApplyEvent(const v1::JobEvent& e, WatchView* view) {
  if (e.kind() == v1::JobEvent::STATE_CHANGED) view->state = e.state();
  if (e.attempt() > 0) view->attempt = e.attempt();
  if (!e.stage().empty()) {
    if (e.stage() != view->stage || e.stage_index() != view->stage_index) {
      // A new stage: its epochs and batches start over.
      view->epoch = view->epochs = 0;
      view->batch = view->batches = 0;
      view->eta_seconds = -1;
    }
    view->stage = e.stage();
    view->stage_index = e.stage_index();
    view->stage_count = e.stage_count();
  }
  switch (e.kind()) {
    case v1::JobEvent::BATCH:
      view->epoch = e.epoch();
      view->epochs = e.epochs();
      view->batch = e.batch();
      view->batches = e.batches();
      view->loss = e.loss();
      view->samples_per_second = e.samples_per_second();
      view->eta_seconds = e.eta_seconds();
      break;
    case v1::JobEvent::EPOCH_FINISHED:
      view->epoch = e.epoch();
      view->epochs = e.epochs();
      view->loss = e.loss();
      view->accuracy = e.accuracy();
      view->sparsity = e.sparsity();
      break;
    case v1::JobEvent::STAGE_FINISHED:
    case v1::JobEvent::RUN_FINISHED:
      view->accuracy = e.accuracy();
      view->sparsity = e.sparsity();
      if (e.ratio() > 0) view->ratio = e.ratio();
      break;
    default:
      break;
  }
  if (e.has_error() && !e.error().message().empty()) {
    view->last_message = e.error().message();
  } else if (!e.message().empty()) {
    view->last_message = e.message();
  }
}

std::vector<std::string> RenderLiveView(const WatchView& v, int width) {
  const int bar = std::clamp(width - 40, 10, 40);
  std::vector<std::string> lines;
  lines.push_back(absl::StrFormat(
      "%s  %s%s", v.job, JobStateName(v.state),
      v.attempt > 0 ? absl::StrCat("  attempt ", v.attempt) : ""));
  lines.push_back(v.stage.empty()
                      ? std::string("stage  -")
                      : absl::StrFormat("stage  %d/%d %s", v.stage_index + 1,
                                        v.stage_count, v.stage));
  lines.push_back(absl::StrFormat("epoch  %s %d/%d",
                                  RenderBar(Fraction(v.epoch, v.epochs), bar),
                                  v.epoch, v.epochs));
  lines.push_back(absl::StrFormat(
      "batch  %s %d/%d  ETA %s", RenderBar(Fraction(v.batch, v.batches), bar),
      v.batch, v.batches, FormatDuration(v.eta_seconds)));
  lines.push_back(absl::StrFormat(
      "loss %.4f  accuracy %s  sparsity %s  ratio %s%s", v.loss,
      FormatPercent(v.accuracy), FormatPercent(v.sparsity), Ratio(v.ratio),
      v.last_message.empty() ? "" : absl::StrCat("  | ", v.last_message)));
  for (auto& line : lines) line = Clip(std::move(line), width);
  return lines;
}

std::string RenderJobStatus(const v1::Job& job) {
  std::string out =
      absl::StrFormat("%s  %s\n", job.name(), JobStateName(job.state()));
  absl::StrAppend(&out, "  model:    ", job.model(), "\n");
  if (!job.dataset().empty()) {
    absl::StrAppend(&out, "  dataset:  ", job.dataset(), "\n");
  }
  if (!job.spec().preset().empty()) {
    absl::StrAppend(&out, "  preset:   ", job.spec().preset(), "\n");
  }
  absl::StrAppend(&out, "  priority: ", job.priority(),
                  "  attempts: ", job.attempts(), "/", job.max_attempts(),
                  "\n");
  absl::StrAppend(&out, "  created:  ", Timestamp(job.create_time_unix_ms()),
                  "\n");
  if (job.start_time_unix_ms() > 0) {
    absl::StrAppend(&out, "  started:  ", Timestamp(job.start_time_unix_ms()),
                    "\n");
  }
  if (job.end_time_unix_ms() > 0) {
    absl::StrAppend(&out, "  ended:    ", Timestamp(job.end_time_unix_ms()),
                    "\n");
  }
  if (!job.worker().empty()) {
    absl::StrAppend(&out, "  worker:   ", job.worker(), "\n");
  }
  for (const auto& [k, v] : job.labels()) {
    absl::StrAppend(&out, "  label:    ", k, "=", v, "\n");
  }
  if (job.state() == v1::Job::RUNNING && job.has_progress()) {
    const v1::JobProgress& p = job.progress();
    absl::StrAppend(
        &out, absl::StrFormat("  progress: stage %d/%d %s, epoch %d/%d, "
                              "batch %d/%d, loss %.4f, accuracy %s, "
                              "sparsity %s, stage ETA %s\n",
                              p.stage_index() + 1, p.stage_count(), p.stage(),
                              p.epoch(), p.epochs(), p.batch(), p.batches(),
                              p.loss(), FormatPercent(p.accuracy()),
                              FormatPercent(p.sparsity()),
                              FormatDuration(p.eta_seconds())));
  }
  if (JobEnded(job.state())) {
    const std::string summary = RenderJobSummary(job);
    // The summary's first line repeats the state.
    absl::StrAppend(&out, summary.substr(summary.find('\n') + 1));
  }
  return out;
}

std::string RenderJobSummary(const v1::Job& job) {
  std::string out =
      absl::StrFormat("%s %s\n", job.name(), JobStateName(job.state()));
  if (job.has_error() && !job.error().message().empty()) {
    absl::StrAppend(&out, "  error:    ", job.error().message(), "\n");
  }
  if (job.state() != v1::Job::SUCCEEDED) return out;
  const v1::JobResult& r = job.result();
  absl::StrAppend(&out, absl::StrFormat("  ratio:    %s\n", Ratio(r.ratio())));
  absl::StrAppend(&out, absl::StrFormat("  accuracy: %s -> %s\n",
                                        FormatPercent(r.accuracy_before()),
                                        FormatPercent(r.accuracy_after())));
  for (const auto& a : r.artifacts()) {
    absl::StrAppend(
        &out,
        absl::StrFormat("  artifact: %-18s %10s  sha256 %s\n", a.file_name(),
                        FormatBytes(a.blob().size_bytes()), a.blob().sha256()));
  }
  if (!r.artifacts().empty()) {
    absl::StrAppend(&out, "  download: condense download ", job.name(), "\n");
  }
  return out;
}

}  // namespace condense::client
