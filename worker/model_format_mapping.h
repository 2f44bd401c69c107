// The engine's model format for a model record's: the server checks jobs
// against it, the worker opens the model as it. Service builds only (the
// record is an API message). Thread-safe.
#ifndef CONDENSE_WORKER_MODEL_FORMAT_MAPPING_H_
#define CONDENSE_WORKER_MODEL_FORMAT_MAPPING_H_

#include "condense/v1/models.pb.h"
#include "worker/engine/model_format.h"

namespace condense::worker {

engine::ModelFormat ToEngineFormat(v1::Model::Format format);

}  // namespace condense::worker

#endif  // CONDENSE_WORKER_MODEL_FORMAT_MAPPING_H_
