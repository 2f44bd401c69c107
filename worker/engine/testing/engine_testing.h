// Builders for engine tests: small TorchScript modules defined in C++ (no
// Python needed) and synthetic, learnable classification data written as
// safetensors. For tests only.
#ifndef CONDENSE_WORKER_ENGINE_TESTING_ENGINE_TESTING_H_
#define CONDENSE_WORKER_ENGINE_TESTING_ENGINE_TESTING_H_

#include <string>

#include "worker/engine/torch_includes.h"

namespace condense::engine::testing {

// A fresh directory under the test's temporary directory.
std::string TempDir(const std::string& name);

// An MLP in -> hidden -> classes (fc1, fc2, ReLU between), seeded.
torch::jit::Module MakeMlp(int64_t in, int64_t hidden, int64_t classes,
                           uint64_t seed);

// Saves the module and returns its path.
std::string SaveModule(torch::jit::Module& module, const std::string& path);

// n samples of `features` floats with labels from a random linear teacher
// fixed by (features, classes), so files of one shape agree (learnable to
// high accuracy); writes "inputs" and "targets".
void WriteClassificationData(const std::string& path, int64_t n,
                             int64_t features, int64_t classes, uint64_t seed,
                             bool with_targets = true);

}  // namespace condense::engine::testing

#endif  // CONDENSE_WORKER_ENGINE_TESTING_ENGINE_TESTING_H_
