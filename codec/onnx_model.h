// ONNX models as a source of tensors and as an output: the weights of a
// ModelProto (graph initializers, initializers of subgraphs, tensors held by
// Constant nodes; inline as raw_data or typed fields, or in external data
// files) indexed with the ops that consume them, read one at a time, and
// written back into the same graph so any ONNX runtime runs the result
// unchanged.
//
// The schema is Debian's libonnx_proto (ONNX 1.12). A protobuf message is
// limited to 2 GiB, so larger models come with external data; the model
// itself is parsed into memory (its inline tensors included), external data
// is read per tensor.
//
// Ownership: OnnxModel owns the parsed graph. Thread-safety: Read() may be
// called from several threads at once, also while a writer replaces other
// tensors; Replace() and OnnxModelWriter run on one thread.
#ifndef CONDENSE_CODEC_ONNX_MODEL_H_
#define CONDENSE_CODEC_ONNX_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "codec/dtype.h"
#include "codec/file_io.h"

namespace onnx {
class ModelProto;
class TensorProto;
}  // namespace onnx

namespace condense::codec {

// How a node uses a tensor: the op and the input slot. Tensors reaching the
// node through layout ops (Transpose, Reshape, Cast, Identity, Squeeze,
// Unsqueeze, Flatten) count as used by it.
struct OnnxUse {
  std::string op_type;  // "Conv", "MatMul", ...; domain-qualified if not ONNX.
  int input = 0;
  bool operator==(const OnnxUse&) const = default;
};

struct OnnxTensor {
  std::string name;  // Unique in the model (see OnnxModel).
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<OnnxUse> uses;   // In graph order; empty when unused.
  bool constant_node = false;  // Held by a Constant node, not an initializer.
  bool external = false;       // Its bytes live in an external data file:
  std::string location;        // that file, relative to the model's.
  bool missing = false;        // No data yet (a skeleton's tensor).

  int64_t numel() const;
  uint64_t bytes() const { return numel() * DTypeSize(dtype); }
};

class OnnxModel {
 public:
  ~OnnxModel();
  OnnxModel(const OnnxModel&) = delete;
  OnnxModel& operator=(const OnnxModel&) = delete;

  // Parses the model file at `path`; external data files are looked up in
  // its directory. InvalidArgument, naming the file or the tensor, for
  // anything that is not a valid model: a protobuf that does not parse, no
  // graph, a tensor whose data does not match its shape and type, an
  // external file outside the model's directory or too short.
  static absl::StatusOr<std::unique_ptr<OnnxModel>> Open(
      const std::string& path);
  // The same from bytes in memory (tests, fuzzing); `dir` is where external
  // data would be, empty for none allowed.
  static absl::StatusOr<std::unique_ptr<OnnxModel>> Parse(
      absl::string_view bytes, std::string name, std::string dir);
  // A model that Skeleton() wrote: its listed tensors hold no data (Read
  // fails for them) until Replace or OnnxModelWriter gives them theirs.
  static absl::StatusOr<std::unique_ptr<OnnxModel>> ParseSkeleton(
      absl::string_view bytes, std::string name);

  // The model without the data of its listed tensors (the graph, shapes,
  // types and every other field, tensors of other types with their data):
  // what a .cdz keeps to rebuild the model from its decoded tensors
  // (ParseSkeleton, ExportOnnx). Moves the data aside and back, so it is
  // not safe beside other calls on this model.
  absl::StatusOr<std::string> Skeleton();

  // The tensors of the model in graph order (initializers, then Constant
  // nodes, graph by graph, subgraphs after their parent), of the element
  // types condense stores; tensors of others (strings, complex, unsigned
  // wider than 8 bits) stay in the model untouched and are not listed.
  // A name used again in a subgraph is qualified as "<node>/<name>".
  const std::vector<OnnxTensor>& tensors() const { return tensors_; }
  // Sum of the listed tensors' bytes.
  uint64_t tensor_bytes() const;
  bool uses_external_data() const;
  // The external data files the listed tensors are read from, relative to
  // the model's directory, each once, in tensors() order.
  std::vector<std::string> ExternalFiles() const;

  // Tensor i's data, little-endian in its dtype (numel * DTypeSize bytes).
  absl::StatusOr<std::vector<uint8_t>> Read(size_t i) const;

  // Sets tensor i's data to `bytes` (little-endian, its dtype and size),
  // inline as raw_data. The model changes in memory only.
  absl::Status Replace(size_t i, absl::string_view bytes);

  const std::string& name() const { return name_; }
  onnx::ModelProto& proto() { return *proto_; }

 private:
  friend class OnnxModelWriter;
  OnnxModel();
  // Parse and ParseSkeleton.
  static absl::StatusOr<std::unique_ptr<OnnxModel>> FromBytes(
      absl::string_view bytes, std::string name, std::string dir,
      bool skeleton);
  absl::Status Index();
  onnx::TensorProto* proto_of(size_t i) const { return protos_[i]; }

  std::string name_;
  std::string dir_;
  bool skeleton_ = false;  // From ParseSkeleton: tensors may lack data.
  std::unique_ptr<onnx::ModelProto> proto_;
  std::vector<OnnxTensor> tensors_;
  std::vector<onnx::TensorProto*> protos_;  // Owned by proto_.
};

// Writes an OnnxModel back with new tensor data: tensors are appended in the
// order of tensors(), then the graph is written. With external data the
// tensors go to `path` + ".data" as they come (64-byte aligned, so a runtime
// may map them) and leave memory; inline, they replace the model's data in
// memory. Both files are written beside their destination and renamed into
// place by Finish(); a writer destroyed before leaves neither.
class OnnxModelWriter {
 public:
  // Models whose tensors exceed this are written with external data: a
  // protobuf message cannot exceed 2 GiB.
  static constexpr uint64_t kInlineLimit = uint64_t{1800} << 20;
  // With external data, tensors held by Constant nodes and tensors smaller
  // than this stay inline (onnx.save_model's default threshold).
  static constexpr uint64_t kExternalMinBytes = 1024;

  // `model` must outlive the writer; it is changed as tensors are appended.
  static absl::StatusOr<std::unique_ptr<OnnxModelWriter>> Create(
      OnnxModel* model, const std::string& path, bool external);
  // Whether a copy of `model` should keep external data: when it has any,
  // or when it would be too large for one message.
  static bool WantsExternal(const OnnxModel& model);

  absl::Status Append(size_t i, absl::string_view bytes);
  absl::Status Finish();
  std::string data_path() const { return external_ ? path_ + ".data" : ""; }

 private:
  OnnxModelWriter() = default;
  OnnxModel* model_ = nullptr;
  std::string path_;
  bool external_ = false;
  size_t next_ = 0;
  std::unique_ptr<WritableFile> data_;
};

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_ONNX_MODEL_H_
