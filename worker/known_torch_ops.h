// The operators the workers' LibTorch has, listed at build time by
// worker/tools/list_torch_ops.cc linked against that LibTorch, so the
// server (which does not link LibTorch) can check uploaded TorchScript
// against them (codec/torchscript_archive.h). A build without the engine
// has no list: `names` is empty and nothing can be checked. Constant data;
// thread-safe.
#ifndef CONDENSE_WORKER_KNOWN_TORCH_OPS_H_
#define CONDENSE_WORKER_KNOWN_TORCH_OPS_H_

#include <span>
#include <string_view>

namespace condense::worker {

struct KnownTorchOps {
  std::string_view libtorch_version;        // "1.13.1"; empty: no list.
  std::span<const std::string_view> names;  // "aten::relu", sorted.
};

const KnownTorchOps& BuiltInTorchOps();

}  // namespace condense::worker

#endif  // CONDENSE_WORKER_KNOWN_TORCH_OPS_H_
