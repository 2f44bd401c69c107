// The LibTorch headers the engine uses, in one place so they can be
// precompiled. Include this only from files that need LibTorch.
#ifndef CONDENSE_WORKER_ENGINE_TORCH_INCLUDES_H_
#define CONDENSE_WORKER_ENGINE_TORCH_INCLUDES_H_

#include <torch/script.h>
#include <torch/torch.h>

#endif  // CONDENSE_WORKER_ENGINE_TORCH_INCLUDES_H_
