#include "worker/run_command.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "codec/size_report.h"
#include "nlohmann/json.hpp"
#include "proto/spec_util.h"
#include "worker/engine/engine.h"
#include "worker/progress_printer.h"
#include "worker/spec_config.h"

namespace condense::worker {
namespace {

std::atomic<engine::CancelFlag*> g_cancel{nullptr};

extern "C" void OnInterrupt(int) {
  if (engine::CancelFlag* flag = g_cancel.load(); flag != nullptr) {
    flag->Cancel();
  }
  // A second ^C ends the process at once.
  std::signal(SIGINT, SIG_DFL);
}

int ExitCode(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 2;
    case absl::StatusCode::kCancelled:
      return 130;
    default:
      return 1;
  }
}

void PrintError(const absl::Status& status) {
  const std::string message(status.message());
  std::fprintf(stderr, "condense-worker: %s\n", message.c_str());
}

void PrintSummary(const engine::RunOutputs& out) {
  const auto& r = out.report;
  std::fprintf(stderr, "\n%-40s %12s %10s %8s %10s %8s\n", "tensor", "params",
               "bytes", "density", "bits/nz", "ratio");
  for (const auto& t : r["tensors"]) {
    std::fprintf(
        stderr, "%-40s %12llu %10llu %8.3f %10.2f %7.1fx\n",
        t["name"].get<std::string>().c_str(),
        static_cast<unsigned long long>(t["numel"].get<uint64_t>()),
        static_cast<unsigned long long>(t["total_bytes"].get<uint64_t>()),
        t["density"].get<double>(), t.value("bits_per_nonzero", 0.0),
        t.value("ratio", 0.0));
  }
  const auto& tot = r["totals"];
  std::fprintf(
      stderr,
      "\n%llu -> %llu bytes: %.1fx (pruned %.1fx, + quantized "
      "%.1fx, + entropy coding %.1fx)\n",
      static_cast<unsigned long long>(tot["original_bytes"].get<uint64_t>()),
      static_cast<unsigned long long>(tot["compressed_bytes"].get<uint64_t>()),
      tot["compression_ratio"].get<double>(), tot["ratio_pruned"].get<double>(),
      tot["ratio_pruned_quantized"].get<double>(),
      tot["compression_ratio"].get<double>());
  const auto& acc = r["accuracy"];
  if (!acc["baseline"].is_null()) {
    std::fprintf(stderr, "accuracy: baseline %.4f, final %.4f\n",
                 acc["baseline"].get<double>(), acc["final"].get<double>());
  }
  std::vector<std::string> wrote;
  for (const std::string* p :
       {&out.cdz_path, &out.torchscript_path, &out.safetensors_path,
        &out.onnx_path, &out.onnx_data_path, &out.report_path}) {
    if (!p->empty()) wrote.push_back(*p);
  }
  std::fprintf(stderr, "wrote %s\n", absl::StrJoin(wrote, ", ").c_str());
}

}  // namespace

absl::StatusOr<v1::CompressionSpec> BuildSpec(const RunFlags& flags) {
  v1::CompressionSpec over;
  if (!flags.spec_file.empty()) {
    std::ifstream in(flags.spec_file);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("cannot read spec file ", flags.spec_file));
    }
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = spec::ParseSpecJson(text.str());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flags.spec_file, ": ", parsed.status().message()));
    }
    over = *std::move(parsed);
  }
  std::string preset = flags.preset;
  if (!flags.goal.empty()) {
    if (auto st = spec::ApplyGoal(flags.goal, &over); !st.ok()) return st;
    if (preset.empty() && over.preset().empty()) preset = "auto";
  }
  const bool has_data = !flags.data.empty() || !flags.train_data.empty();
  return spec::ComposeSpec(preset, over, flags.overrides, has_data);
}

int RunCommand(const RunFlags& flags) {
  auto spec = BuildSpec(flags);
  if (!spec.ok()) {
    PrintError(spec.status());
    return ExitCode(spec.status());
  }
  auto config = ToEngineConfig(*spec);
  if (!config.ok()) {
    PrintError(config.status());
    return 2;
  }
  if (!flags.data.empty() && !flags.train_data.empty()) {
    std::fprintf(stderr,
                 "condense-worker: give either --data DIR or --train-data "
                 "FILE [--eval-data FILE], not both\n");
    return 2;
  }
  if (!flags.eval_data.empty() && flags.train_data.empty()) {
    std::fprintf(stderr, "condense-worker: --eval-data needs --train-data\n");
    return 2;
  }
  engine::RunInputs inputs;
  inputs.model_path = flags.model;
  inputs.data_dir = flags.data;
  inputs.train_data = flags.train_data;
  inputs.eval_data = flags.eval_data;
  inputs.out_dir = flags.out;
  inputs.checkpoint_dir = flags.checkpoint_dir;
  inputs.threads = flags.threads;
  inputs.stop_after_stages = flags.stop_after_stages;

  engine::CancelFlag cancel;
  g_cancel = &cancel;
  auto previous = std::signal(SIGINT, OnInterrupt);
  ProgressPrinter printer(stderr, isatty(fileno(stderr)) != 0);
  auto result = engine::RunCompression(
      *config, inputs, flags.quiet ? nullptr : &printer, &cancel);
  std::signal(SIGINT, previous);
  g_cancel = nullptr;
  if (!result.ok()) {
    PrintError(result.status());
    return ExitCode(result.status());
  }
  PrintSummary(*result);
  return 0;
}

}  // namespace condense::worker
