// A build without the engine: no LibTorch, so no list of its operators.
#include "worker/known_torch_ops.h"

namespace condense::worker {

const KnownTorchOps& BuiltInTorchOps() {
  static constexpr KnownTorchOps kNone{};
  return kNone;
}

}  // namespace condense::worker
