// Fills the engine's plain configuration from a CompressionSpec: the one
// place that knows both, so the engine needs no protobuf. Thread-safe.
#ifndef CONDENSE_WORKER_SPEC_CONFIG_H_
#define CONDENSE_WORKER_SPEC_CONFIG_H_

#include "absl/status/statusor.h"
#include "condense/v1/spec.pb.h"
#include "worker/engine/config.h"

namespace condense::worker {

// Validates the spec (proto/spec_util.h) and applies its documented
// defaults.
absl::StatusOr<engine::EngineConfig> ToEngineConfig(
    const v1::CompressionSpec& spec);

}  // namespace condense::worker

#endif  // CONDENSE_WORKER_SPEC_CONFIG_H_
