// Fills the engine's plain configuration from a CompressionSpec: the one
// place that knows both, so the engine needs no protobuf. Thread-safe.
#ifndef CONDENSE_WORKER_SPEC_CONFIG_H_
#define CONDENSE_WORKER_SPEC_CONFIG_H_

#include "absl/status/statusor.h"
#include "condense/v1/models.pb.h"
#include "condense/v1/spec.pb.h"
#include "worker/engine/config.h"
#include "worker/engine/model_format.h"

namespace condense::worker {

// Validates the spec (proto/spec_util.h) and applies its documented
// defaults.
absl::StatusOr<engine::EngineConfig> ToEngineConfig(
    const v1::CompressionSpec& spec);

// The engine's format for a model record's (the server checks jobs against
// it, the worker opens the model as it).
engine::ModelFormat ToEngineFormat(v1::Model::Format format);

}  // namespace condense::worker

#endif  // CONDENSE_WORKER_SPEC_CONFIG_H_
