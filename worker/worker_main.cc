// condense-worker: runs compressions. `--server ADDR` serves a condense
// server (leases jobs, runs them, reports back); `run` does one compression
// on this machine from files to files (the offline command). Built without
// gRPC (CONDENSE_WORKER_RUN_ONLY), it has `run` alone.
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "CLI/CLI.hpp"
#include "worker/run_command.h"
#if !CONDENSE_WORKER_RUN_ONLY
#include "worker/serve_command.h"
#endif

namespace {

int Main(int argc, char** argv) {
  CLI::App app{
      "condense-worker: compresses neural networks (Deep "
      "Compression: pruning, trained quantization, Huffman coding; "
      "DSD)"};
#if CONDENSE_WORKER_RUN_ONLY
  app.require_subcommand(1);
#else
  app.require_subcommand(0, 1);
  condense::worker::ServeFlags serve;
  app.add_option("--server", serve.connection.address,
                 "serve this condense server (host:port; env CONDENSE_ADDR)");
  app.add_option("--token", serve.connection.token,
                 "bearer token with the worker role (env CONDENSE_TOKEN)");
  app.add_option("--tls-ca", serve.connection.tls_ca,
                 "CA of the server's certificate (PEM): use TLS");
  app.add_option("--tls-cert", serve.connection.tls_cert,
                 "client certificate for mutual TLS (PEM)");
  app.add_option("--tls-key", serve.connection.tls_key,
                 "client key for mutual TLS (PEM)");
  app.add_option("--device", serve.device,
                 "auto (CUDA when present), cpu or cuda: overrides the "
                 "jobs' spec.device")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--cache-dir", serve.cache_dir,
                 "inputs by digest and job directories (default "
                 "~/.cache/condense-worker)");
  app.add_option("--threads", serve.threads, "CPU threads (default: all)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--name", serve.name, "worker name (default host:pid)");
  app.add_option("--max-jobs", serve.max_jobs,
                 "exit after this many jobs (default: serve forever)")
      ->check(CLI::Range(0, 1000000));
#endif
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
                  "auto (the search to --goal; the default with data), "
                  "deep-compression (the default without), prune, quantize, "
                  "dsd, dsd+deep-compression");
  cmd->add_option("--goal", run.goal,
                  "what the result must keep: max-drop=0.5pt (top-1 points, "
                  "or a fraction), max-bytes=N or min-ratio=50x");
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
  if (cmd->parsed()) return condense::worker::RunCommand(run);
#if CONDENSE_WORKER_RUN_ONLY
  return 2;  // CLI11 requires the subcommand.
#else
  if (serve.connection.address.empty() &&
      std::getenv("CONDENSE_ADDR") == nullptr) {
    std::fprintf(stderr,
                 "condense-worker: give --server ADDR to serve a condense "
                 "server, or use `run` (see --help)\n");
    return 2;
  }
  return condense::worker::ServeCommand(serve);
#endif
}

}  // namespace

int main(int argc, char** argv) {
#ifdef __GLIBC__
  // A tensor's buffers (a large layer is hundreds of MiB) are mapped and
  // handed back to the system when freed. glibc's default threshold rises
  // after the first such free, and later buffers then stay in per-thread
  // arenas, so the process would keep the sum of the largest tensors each
  // thread ever held rather than what is live.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "condense-worker: %s\n", e.what());
    return 1;
  }
}
