// condense-worker: runs compressions. `run` does one on this machine from
// files to files (the offline command).
#include <cstdio>
#include <exception>
#include <string>

#include "CLI/CLI.hpp"
#include "worker/run_command.h"

namespace {

int Main(int argc, char** argv) {
  CLI::App app{
      "condense-worker: compresses neural networks (Deep "
      "Compression: pruning, trained quantization, Huffman coding; "
      "DSD)"};
  app.require_subcommand(1);
  condense::worker::RunFlags run;
  CLI::App* cmd = app.add_subcommand(
      "run",
      "compress one model here and write model.cdz, model.pt, "
      "model.safetensors and report.json");
  cmd->add_option("--model", run.model,
                  "TorchScript file (torch.jit.save) or .safetensors state "
                  "dict")
      ->required();
  auto* data = cmd->add_option(
      "--data", run.data,
      "directory in the MNIST layout (train-images-idx3-ubyte[.gz], ...)");
  auto* train = cmd->add_option(
      "--train-data", run.train_data,
      "training data: IDX images file (labels found by name) or "
      ".safetensors with inputs [and targets]");
  cmd->add_option("--eval-data", run.eval_data,
                  "evaluation data, same forms (default: hold out part of "
                  "the training data)");
  data->excludes(train);
  cmd->add_option("--preset", run.preset,
                  "deep-compression (default), prune, quantize, dsd, "
                  "dsd+deep-compression");
  cmd->add_option("--spec", run.spec_file,
                  "CompressionSpec JSON merged over the preset");
  cmd->add_option("--set", run.overrides,
                  "field=value override, e.g. fc.bits=6 or "
                  "stages[0].prune.steps=4 (repeatable)");
  cmd->add_option("--out", run.out, "output directory")->required();
  cmd->add_option("--checkpoint-dir", run.checkpoint_dir,
                  "save stage checkpoints here and resume from them");
  cmd->add_option("--threads", run.threads, "CPU threads (default: all)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--stop-after-stages", run.stop_after_stages,
                  "stop after this many stages (checkpointed)")
      ->check(CLI::Range(0, 1000));
  cmd->add_flag("--quiet", run.quiet, "no progress output");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return condense::worker::RunCommand(run);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "condense-worker: %s\n", e.what());
    return 1;
  }
}
