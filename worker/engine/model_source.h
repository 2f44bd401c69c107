// Where a model's tensors come from. A ModelSource gives the tensor index
// (name, tied aliases, shape, dtype, role) up front and reads one tensor at a
// time, so a data-free run can stream a model larger than memory; where the
// format has one (TorchScript), it also holds the trainable module.
//
// The source is chosen by the model's recorded format (the model record of
// the service, or a sniff of the file's first bytes), never by the file's
// suffix: TorchScript, safetensors (one file or shards), ONNX.
//
// Ownership: the source owns its file handle and module; tensors it returns
// are reference-counted. Read() is thread-safe; module() is not.
#ifndef CONDENSE_WORKER_ENGINE_MODEL_SOURCE_H_
#define CONDENSE_WORKER_ENGINE_MODEL_SOURCE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codec/cdz_writer.h"
#include "codec/dtype.h"
#include "codec/onnx_model.h"
#include "codec/safetensors_shards.h"
#include "worker/engine/model_format.h"
#include "worker/engine/tensor_role.h"
#include "worker/engine/torch_includes.h"

namespace condense::engine {

// The format of the model at `path` from its first bytes: a zip archive is
// TorchScript, an 8-byte length and a JSON object is safetensors, a
// directory or a JSON index with a weight_map is a sharded checkpoint, a
// protobuf starting with a ModelProto field is ONNX.
absl::StatusOr<ModelFormat> SniffModelFormat(const std::string& path);

// One tensor of the model: a parameter or a buffer, tied ones listed once.
struct TensorEntry {
  std::string name;                  // First name in module order.
  std::vector<std::string> aliases;  // Other names of the same tensor.
  std::vector<int64_t> shape;
  codec::DType dtype = codec::DType::kF32;  // As stored in the source.
  TensorRole role = TensorRole::kBuffer;
  std::string module_type;  // "Linear", ...; empty when the format has none.
  bool parameter = false;

  int64_t numel() const;
  bool floating() const { return codec::IsFloatingDType(dtype); }
};

class ModelSource {
 public:
  virtual ~ModelSource() = default;

  virtual ModelFormat format() const = 0;
  const std::string& path() const { return path_; }
  const std::string& sha256() const { return sha256_; }
  const std::vector<TensorEntry>& tensors() const { return tensors_; }

  // Tensor i on the CPU, contiguous, floating ones as float32. A TorchScript
  // source returns the module's own tensor (writing it changes the module);
  // others a fresh one the caller owns.
  virtual absl::StatusOr<torch::Tensor> Read(size_t i) const = 0;
  // Whether Read allocates the tensor (true) or hands out memory the source
  // already holds (false): what a reader must budget for.
  virtual bool reads_allocate() const = 0;
  // The trainable module when the format has one, else null.
  virtual torch::jit::Module* module() { return nullptr; }
  // For a sharded checkpoint, which tensor lives in which shard (tensors()
  // lists them in this order); else null.
  virtual const codec::ShardLayout* shard_layout() const { return nullptr; }
  // For an ONNX model, the parsed graph (owned by the source; writers of the
  // decoded model replace its tensors in place); else null.
  virtual codec::OnnxModel* onnx_model() const { return nullptr; }

 protected:
  friend absl::StatusOr<std::unique_ptr<ModelSource>> OpenModelSource(
      const std::string& path, std::optional<ModelFormat> format);
  std::string path_;
  std::string sha256_;
  std::vector<TensorEntry> tensors_;
};

// Opens the model at `path` as `format` (sniffed from the content when
// unset). NotFound when the file is missing, InvalidArgument when it is not
// a valid model of that format. TorchScript modules load on the CPU with
// floating tensors made float32.
absl::StatusOr<std::unique_ptr<ModelSource>> OpenModelSource(
    const std::string& path, std::optional<ModelFormat> format);

// Adds to `manifest` what a .cdz keeps of `source` beyond its tensors, so
// that the container alone rebuilds the model in its own layout: a sharded
// checkpoint's shard layout, an ONNX model's graph. Not safe beside other
// use of the source's ONNX model (OnnxModel::Skeleton).
absl::Status AddLayoutToManifest(const ModelSource& source,
                                 codec::Manifest* manifest);

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_MODEL_SOURCE_H_
