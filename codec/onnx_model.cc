#include "codec/onnx_model.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "onnx/onnx_pb.h"

namespace condense::codec {
namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

// The directory a model's external data is relative to ("." for a bare
// name). Returned whole, not assigned from a literal: GCC 12 warns
// (-Wrestrict, a known false positive) on the assignment.
std::string DirectoryOf(const std::string& path) {
  std::string dir = fs::path(path).parent_path().string();
  return dir.empty() ? std::string(".") : dir;
}

// Beyond any real model: rejects absurd shapes before they are multiplied
// into sizes.
constexpr int64_t kMaxElements = int64_t{1} << 40;
// Beyond any real model's control flow.
constexpr size_t kMaxGraphs = 100000;
constexpr int kMaxGraphDepth = 64;
constexpr uint64_t kExternalAlignment = 64;

// The element types condense stores, by ONNX's enum; others are left alone.
std::optional<DType> CodecDType(int onnx_type) {
  switch (onnx_type) {
    case TensorProto::FLOAT:
      return DType::kF32;
    case TensorProto::FLOAT16:
      return DType::kF16;
    case TensorProto::BFLOAT16:
      return DType::kBF16;
    case TensorProto::DOUBLE:
      return DType::kF64;
    case TensorProto::INT64:
      return DType::kI64;
    case TensorProto::INT32:
      return DType::kI32;
    case TensorProto::INT16:
      return DType::kI16;
    case TensorProto::INT8:
      return DType::kI8;
    case TensorProto::UINT8:
      return DType::kU8;
    case TensorProto::BOOL:
      return DType::kBool;
    default:
      return std::nullopt;
  }
}

// Ops through which a weight flows unchanged in value to the op that uses
// it (exporters transpose or reshape weights on the way).
bool IsLayoutOp(const onnx::NodeProto& n) {
  if (!n.domain().empty() && n.domain() != "ai.onnx") return false;
  static const std::set<std::string> kOps = {
      "Transpose", "Reshape",   "Cast",   "Identity",
      "Squeeze",   "Unsqueeze", "Flatten"};
  return kOps.count(n.op_type()) > 0;
}

std::string OpName(const onnx::NodeProto& n) {
  if (n.domain().empty() || n.domain() == "ai.onnx") return n.op_type();
  return absl::StrCat(n.domain(), ".", n.op_type());
}

absl::Status Bad(const std::string& model, const std::string& tensor,
                 absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "ONNX model ", model, ": tensor '", tensor, "' ", what,
      "; re-export the model (torch.onnx.export, onnx.save_model) and check "
      "it with onnx.checker.check_model"));
}

// Drops every place a tensor's data may be held (typed fields, raw_data,
// external data), before it is given its new data.
void ClearData(TensorProto& t) {
  t.clear_float_data();
  t.clear_int32_data();
  t.clear_int64_data();
  t.clear_double_data();
  t.clear_uint64_data();
  t.clear_raw_data();
  t.clear_external_data();
  t.clear_data_location();
}

// Moves a tensor's data fields (typed values, raw_data, external data and
// its location) from `from` to `to`, has-bits included, so that moving them
// back restores `from` exactly; `to` holds no data before.
void MoveData(TensorProto& from, TensorProto& to) {
  to.mutable_float_data()->Swap(from.mutable_float_data());
  to.mutable_int32_data()->Swap(from.mutable_int32_data());
  to.mutable_int64_data()->Swap(from.mutable_int64_data());
  to.mutable_double_data()->Swap(from.mutable_double_data());
  to.mutable_uint64_data()->Swap(from.mutable_uint64_data());
  to.mutable_external_data()->Swap(from.mutable_external_data());
  if (from.has_raw_data()) to.set_allocated_raw_data(from.release_raw_data());
  if (from.has_data_location()) {
    to.set_data_location(from.data_location());
    from.clear_data_location();
  }
}

// Whether `location` under `dir` resolves, through any symlinks, to a path
// under `dir`.
bool ResolvesInside(const std::string& dir, const std::string& location) {
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(dir, ec);
  if (ec) return false;
  const fs::path file = fs::weakly_canonical(fs::path(dir) / location, ec);
  if (ec) return false;
  return std::mismatch(root.begin(), root.end(), file.begin(), file.end())
             .first == root.end();
}

// A tensor condense does not index (a sparse initializer, a tensor in an
// attribute other than a Constant's value, an element type it leaves
// alone) that lives in external data, or empty. Such a tensor cannot be
// carried into a written model, whose external data file is new.
std::string UnindexedExternal(const onnx::ModelProto& model,
                              const std::set<const TensorProto*>& indexed) {
  std::string found;
  auto check = [&](const TensorProto& t, absl::string_view what) {
    if (found.empty() && t.data_location() == TensorProto::EXTERNAL &&
        indexed.count(&t) == 0) {
      found = absl::StrCat(what, " '", t.name(), "'");
    }
  };
  std::function<void(const onnx::GraphProto&)> graph;
  auto node = [&](const onnx::NodeProto& n) {
    for (const onnx::AttributeProto& a : n.attribute()) {
      if (a.has_t()) check(a.t(), "attribute tensor");
      for (const TensorProto& t : a.tensors()) check(t, "attribute tensor");
      if (a.has_sparse_tensor()) {
        check(a.sparse_tensor().values(), "sparse attribute");
        check(a.sparse_tensor().indices(), "sparse attribute");
      }
      for (const onnx::SparseTensorProto& t : a.sparse_tensors()) {
        check(t.values(), "sparse attribute");
        check(t.indices(), "sparse attribute");
      }
      if (a.has_g()) graph(a.g());
      for (const onnx::GraphProto& g : a.graphs()) graph(g);
    }
  };
  graph = [&](const onnx::GraphProto& g) {
    for (const TensorProto& t : g.initializer()) check(t, "initializer");
    for (const onnx::SparseTensorProto& t : g.sparse_initializer()) {
      check(t.values(), "sparse initializer");
      check(t.indices(), "sparse initializer");
    }
    for (const onnx::NodeProto& n : g.node()) node(n);
  };
  graph(model.graph());
  for (const onnx::FunctionProto& f : model.functions()) {
    for (const onnx::NodeProto& n : f.node()) node(n);
  }
  return found;
}

// The external data entries of a tensor: location, offset, length.
struct ExternalRef {
  std::string location;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
};

absl::StatusOr<ExternalRef> ParseExternal(const TensorProto& t,
                                          const std::string& model,
                                          const std::string& name) {
  ExternalRef ref;
  for (const auto& kv : t.external_data()) {
    uint64_t v = 0;
    if (kv.key() == "location") {
      ref.location = kv.value();
      continue;
    }
    if (kv.key() != "offset" && kv.key() != "length") continue;
    const std::string& s = kv.value();
    if (s.empty() || s.size() > 19 ||
        s.find_first_not_of("0123456789") != std::string::npos) {
      return Bad(
          model, name,
          absl::StrCat("has external ", kv.key(), " '", s, "', not a number"));
    }
    v = std::stoull(s);
    if (kv.key() == "offset") {
      ref.offset = v;
    } else {
      ref.length = v;
    }
  }
  if (ref.location.empty()) {
    return Bad(model, name, "is stored externally but names no location");
  }
  const fs::path loc(ref.location);
  bool escapes = loc.is_absolute();
  for (const auto& part : loc) escapes = escapes || part == "..";
  if (escapes) {
    return Bad(model, name,
               absl::StrCat("has external data at '", ref.location,
                            "', outside the model's directory"));
  }
  return ref;
}

// Whether a typed field holds exactly n elements for this type.
int64_t TypedCount(const TensorProto& t) {
  switch (t.data_type()) {
    case TensorProto::FLOAT:
      return t.float_data_size();
    case TensorProto::DOUBLE:
      return t.double_data_size();
    case TensorProto::INT64:
      return t.int64_data_size();
    default:
      return t.int32_data_size();
  }
}

class FileOutput : public google::protobuf::io::CopyingOutputStream {
 public:
  explicit FileOutput(WritableFile* file) : file_(file) {}
  bool Write(const void* buffer, int size) override {
    status_ = file_->Append(
        absl::string_view(static_cast<const char*>(buffer), size));
    return status_.ok();
  }
  const absl::Status& status() const { return status_; }

 private:
  WritableFile* file_;
  absl::Status status_;
};

}  // namespace

int64_t OnnxTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

OnnxModel::OnnxModel() : proto_(std::make_unique<onnx::ModelProto>()) {}
OnnxModel::~OnnxModel() = default;

absl::StatusOr<std::unique_ptr<OnnxModel>> OnnxModel::Open(
    const std::string& path) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ONNX model ", path, ": ", ec.message()));
  }
  if (size > static_cast<uint64_t>(INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ONNX model ", path, " is ", size >> 20,
        " MiB, over protobuf's 2 GiB: save it with its weights as external "
        "data (onnx.save_model(model, path, save_as_external_data=True))"));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("cannot open ONNX model ", path,
                                            ": ", std::strerror(errno)));
  }
  std::unique_ptr<OnnxModel> m(new OnnxModel);
  m->name_ = path;
  m->dir_ = DirectoryOf(path);
  bool parsed = false;
  {
    google::protobuf::io::FileInputStream in(fd);
    in.SetCloseOnDelete(true);
    parsed = m->proto_->ParseFromZeroCopyStream(&in);
  }
  if (!parsed) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        " is not an ONNX model: its protobuf does not parse (truncated "
        "or another kind of file)"));
  }
  if (auto st = m->Index(); !st.ok()) return st;
  return m;
}

absl::StatusOr<std::unique_ptr<OnnxModel>> OnnxModel::Parse(
    absl::string_view bytes, std::string name, std::string dir) {
  return FromBytes(bytes, std::move(name), std::move(dir), false);
}

absl::StatusOr<std::unique_ptr<OnnxModel>> OnnxModel::ParseSkeleton(
    absl::string_view bytes, std::string name) {
  return FromBytes(bytes, std::move(name), "", true);
}

absl::StatusOr<std::unique_ptr<OnnxModel>> OnnxModel::FromBytes(
    absl::string_view bytes, std::string name, std::string dir, bool skeleton) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ONNX model ", name, " is over protobuf's 2 GiB"));
  }
  std::unique_ptr<OnnxModel> m(new OnnxModel);
  m->name_ = std::move(name);
  m->dir_ = std::move(dir);
  m->skeleton_ = skeleton;
  if (!m->proto_->ParseFromArray(bytes.data(),
                                 static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        m->name_, " is not an ONNX model: its protobuf does not parse"));
  }
  if (auto st = m->Index(); !st.ok()) return st;
  return m;
}

absl::StatusOr<std::string> OnnxModel::Skeleton() {
  std::vector<TensorProto> held(protos_.size());
  for (size_t i = 0; i < protos_.size(); ++i) MoveData(*protos_[i], held[i]);
  std::string out;
  const bool ok = proto_->SerializeToString(&out);
  for (size_t i = 0; i < protos_.size(); ++i) MoveData(held[i], *protos_[i]);
  if (!ok) {
    return absl::InternalError(
        absl::StrCat("cannot serialize the graph of ONNX model ", name_));
  }
  return out;
}

absl::Status OnnxModel::Index() {
  if (!proto_->has_graph()) {
    return absl::InvalidArgumentError(absl::StrCat(
        name_, " is not an ONNX model: it has no graph (ModelProto.graph)"));
  }
  // Every graph, parents before the subgraphs of their nodes, each with the
  // name of the node that holds it, its parent and its depth.
  struct Graph {
    onnx::GraphProto* proto;
    std::string owner;
    size_t parent;
    int depth;
    // Values defined here, which shadow outer ones of the same name.
    std::set<std::string> defines;
  };
  // Who reads each value name, in any graph; one map, so finding a
  // tensor's uses costs its readers, not the number of subgraphs.
  struct Reader {
    size_t graph;
    const onnx::NodeProto* node;
    int input;
  };
  std::unordered_map<std::string, std::vector<Reader>> readers;
  std::vector<Graph> graphs;
  graphs.push_back({proto_->mutable_graph(), "", 0, 0, {}});
  for (size_t g = 0; g < graphs.size(); ++g) {
    onnx::GraphProto* proto = graphs[g].proto;
    std::set<std::string> defines;
    for (const onnx::TensorProto& t : proto->initializer()) {
      if (!defines.insert(t.name()).second) {
        return Bad(name_, t.name(),
                   "is defined twice in one graph (names of initializers "
                   "must be unique: onnx.checker.check_model says where)");
      }
    }
    for (const onnx::ValueInfoProto& v : proto->input()) {
      defines.insert(v.name());
    }
    for (onnx::NodeProto& node : *proto->mutable_node()) {
      for (const std::string& out : node.output()) defines.insert(out);
      for (int k = 0; k < node.input_size(); ++k) {
        if (!node.input(k).empty()) {
          readers[node.input(k)].push_back({g, &node, k});
        }
      }
      const std::string owner =
          node.name().empty() ? node.op_type() : node.name();
      for (onnx::AttributeProto& a : *node.mutable_attribute()) {
        std::vector<onnx::GraphProto*> subs;
        if (a.has_g()) subs.push_back(a.mutable_g());
        for (onnx::GraphProto& sub : *a.mutable_graphs()) subs.push_back(&sub);
        for (onnx::GraphProto* sub : subs) {
          if (graphs.size() >= kMaxGraphs ||
              graphs[g].depth >= kMaxGraphDepth) {
            return absl::InvalidArgumentError(absl::StrCat(
                "ONNX model ", name_, " nests too many subgraphs (at most ",
                kMaxGraphs, ", ", kMaxGraphDepth, " deep)"));
          }
          graphs.push_back({sub, owner, g, graphs[g].depth + 1, {}});
        }
      }
    }
    graphs[g].defines = std::move(defines);
  }

  // Whether a read of `value` in graph `g` sees the value defined in
  // `home`: `g` is `home` or below it, with no graph between defining its
  // own value of that name.
  auto sees = [&](size_t g, const std::string& value, size_t home) {
    while (g != home) {
      if (g == 0 || graphs[g].defines.count(value) > 0) return false;
      g = graphs[g].parent;
    }
    return true;
  };
  // The uses of value `value` defined in graph `home`, following layout ops
  // to the op that uses the weight.
  auto uses_of = [&](const std::string& value, size_t home) {
    std::vector<OnnxUse> uses;
    std::set<std::pair<std::string, int>> found;
    std::vector<std::tuple<std::string, size_t, int>> todo = {{value, home, 0}};
    std::set<std::pair<std::string, size_t>> seen;
    while (!todo.empty()) {
      auto [v, scope, depth] = todo.back();
      todo.pop_back();
      if (!seen.insert({v, scope}).second) continue;
      auto it = readers.find(v);
      if (it == readers.end()) continue;
      for (const Reader& r : it->second) {
        if (!sees(r.graph, v, scope)) continue;
        if (IsLayoutOp(*r.node) && r.input == 0 && depth < 4 &&
            r.node->output_size() > 0) {
          todo.emplace_back(r.node->output(0), r.graph, depth + 1);
          continue;
        }
        OnnxUse u{OpName(*r.node), r.input};
        if (found.insert({u.op_type, u.input}).second) {
          uses.push_back(std::move(u));
        }
      }
    }
    return uses;
  };

  std::set<std::string> names;
  std::map<std::string, int> next_suffix;
  auto add = [&](TensorProto* t, const std::string& value, size_t graph,
                 bool constant) -> absl::Status {
    const std::string& owner = graphs[graph].owner;
    const std::string shown = value.empty() ? "(unnamed)" : value;
    if (t->data_type() == TensorProto::UNDEFINED) {
      return Bad(name_, shown, "has no element type (UNDEFINED)");
    }
    // Strings, complex, wide unsigned and types newer than this schema
    // (float8, int4) are left as they are.
    const std::optional<DType> dtype = CodecDType(t->data_type());
    if (!dtype) return absl::OkStatus();
    OnnxTensor e;
    e.dtype = *dtype;
    e.constant_node = constant;
    int64_t n = 1;
    for (int64_t d : t->dims()) {
      if (d < 0 || (d > 0 && n > kMaxElements / d)) {
        return Bad(name_, shown,
                   absl::StrCat("has an impossible shape (dim ", d, ")"));
      }
      n *= d;
      e.shape.push_back(d);
    }
    const uint64_t want = static_cast<uint64_t>(n) * DTypeSize(*dtype);
    if (t->has_segment()) {
      return Bad(name_, shown,
                 "is split into segments, which is not supported");
    }
    if (t->data_location() == TensorProto::EXTERNAL) {
      if (dir_.empty()) {
        return Bad(name_, shown, "is stored externally, with no directory");
      }
      auto ref = ParseExternal(*t, name_, shown);
      if (!ref.ok()) return ref.status();
      if (!ResolvesInside(dir_, ref->location)) {
        return Bad(name_, shown,
                   absl::StrCat("has external data at '", ref->location,
                                "', which leads outside the model's "
                                "directory (a symlink?)"));
      }
      if (ref->length && *ref->length != want) {
        return Bad(name_, shown,
                   absl::StrCat("has external length ", *ref->length,
                                " bytes, its shape and type need ", want));
      }
      std::error_code ec;
      const uint64_t size = fs::file_size(fs::path(dir_) / ref->location, ec);
      if (ec) {
        return Bad(name_, shown,
                   absl::StrCat("is stored in ", ref->location,
                                ", which cannot be read: ", ec.message()));
      }
      if (ref->offset > size || size - ref->offset < want) {
        return Bad(name_, shown,
                   absl::StrCat("is stored in ", ref->location, " at ",
                                ref->offset, " (", want,
                                " bytes), past its end (", size, " bytes)"));
      }
      e.external = true;
      e.location = ref->location;
    } else if (t->has_raw_data()) {
      if (t->raw_data().size() != want) {
        return Bad(
            name_, shown,
            absl::StrCat("has ", t->raw_data().size(),
                         " bytes of data, its shape and type need ", want));
      }
    } else if (skeleton_ && TypedCount(*t) == 0) {
      e.missing = true;  // Its data comes from the .cdz.
    } else if (TypedCount(*t) != n) {
      return Bad(name_, shown,
                 absl::StrCat("has ", TypedCount(*t),
                              " typed values, its shape needs ", n));
    }
    e.uses = uses_of(value, graph);
    e.name = value.empty() ? absl::StrCat(owner, "/(unnamed)") : value;
    if (!names.insert(e.name).second) {
      // A subgraph's tensor under an outer name: qualified by its node once,
      // then numbered.
      const std::string base =
          absl::StrCat(owner.empty() ? "graph" : owner, "/", e.name);
      e.name = base;
      int& k = next_suffix[base];
      while (!names.insert(e.name).second)
        e.name = absl::StrCat(base, "#", ++k);
    }
    tensors_.push_back(std::move(e));
    protos_.push_back(t);
    return absl::OkStatus();
  };
  for (size_t g = 0; g < graphs.size(); ++g) {
    for (TensorProto& t : *graphs[g].proto->mutable_initializer()) {
      if (auto st = add(&t, t.name(), g, false); !st.ok()) return st;
    }
    for (onnx::NodeProto& node : *graphs[g].proto->mutable_node()) {
      if (node.op_type() != "Constant" || node.output_size() == 0 ||
          !(node.domain().empty() || node.domain() == "ai.onnx")) {
        continue;
      }
      for (onnx::AttributeProto& a : *node.mutable_attribute()) {
        if (a.name() == "value" && a.has_t()) {
          if (auto st = add(a.mutable_t(), node.output(0), g, true); !st.ok()) {
            return st;
          }
        }
      }
    }
  }
  const std::string stale = UnindexedExternal(
      *proto_, std::set<const TensorProto*>(protos_.begin(), protos_.end()));
  if (!stale.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ONNX model ", name_, " keeps ", stale,
        " in external data, which condense does not carry into the model it "
        "writes (it copies initializers and Constant values of float and "
        "integer types): save the model with that tensor inline "
        "(onnx.load(path) loads external data; then onnx.save_model with a "
        "size_threshold above its size)"));
  }
  return absl::OkStatus();
}

uint64_t OnnxModel::tensor_bytes() const {
  uint64_t total = 0;
  for (const OnnxTensor& t : tensors_) total += t.bytes();
  return total;
}

bool OnnxModel::uses_external_data() const {
  for (const OnnxTensor& t : tensors_) {
    if (t.external) return true;
  }
  return false;
}

std::vector<std::string> OnnxModel::ExternalFiles() const {
  std::vector<std::string> files;
  for (const OnnxTensor& t : tensors_) {
    if (t.external &&
        std::find(files.begin(), files.end(), t.location) == files.end()) {
      files.push_back(t.location);
    }
  }
  return files;
}

absl::StatusOr<std::vector<uint8_t>> OnnxModel::Read(size_t i) const {
  if (i >= tensors_.size()) return absl::OutOfRangeError("no such tensor");
  const OnnxTensor& e = tensors_[i];
  const TensorProto& t = *protos_[i];
  if (e.missing) {
    return absl::FailedPreconditionError(
        absl::StrCat("tensor '", e.name, "' of ", name_,
                     " has no data: the model is a skeleton"));
  }
  std::vector<uint8_t> out(e.bytes());
  if (t.data_location() == TensorProto::EXTERNAL) {
    auto ref = ParseExternal(t, name_, e.name);
    if (!ref.ok()) return ref.status();
    auto file = OpenRandomAccessFile((fs::path(dir_) / ref->location).string());
    if (!file.ok()) return file.status();
    if (auto st = (*file)->ReadAt(ref->offset, out.size(), out.data());
        !st.ok()) {
      return Bad(name_, e.name,
                 absl::StrCat("cannot be read from ", ref->location, ": ",
                              st.message()));
    }
    return out;
  }
  if (t.has_raw_data()) {
    std::memcpy(out.data(), t.raw_data().data(), out.size());
    return out;
  }
  // Typed fields: narrow integer and 16-bit float types are widened into
  // int32_data; everything is stored little-endian in `out`.
  const size_t n = static_cast<size_t>(e.numel());
  uint8_t* dst = out.data();
  switch (t.data_type()) {
    case TensorProto::FLOAT:
      std::memcpy(dst, t.float_data().data(), n * 4);
      break;
    case TensorProto::DOUBLE:
      std::memcpy(dst, t.double_data().data(), n * 8);
      break;
    case TensorProto::INT64:
      std::memcpy(dst, t.int64_data().data(), n * 8);
      break;
    case TensorProto::INT32:
      std::memcpy(dst, t.int32_data().data(), n * 4);
      break;
    default: {
      const size_t size = DTypeSize(e.dtype);
      for (size_t k = 0; k < n; ++k) {
        const auto v = static_cast<uint32_t>(t.int32_data(static_cast<int>(k)));
        for (size_t b = 0; b < size; ++b)
          dst[k * size + b] = (v >> (8 * b)) & 0xFF;
      }
    }
  }
  return out;
}

absl::Status OnnxModel::Replace(size_t i, absl::string_view bytes) {
  if (i >= tensors_.size()) return absl::OutOfRangeError("no such tensor");
  if (bytes.size() != tensors_[i].bytes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "replacing ONNX tensor ", tensors_[i].name, ": ", bytes.size(),
        " bytes given, ", tensors_[i].bytes(), " expected"));
  }
  TensorProto& t = *protos_[i];
  ClearData(t);
  t.set_raw_data(bytes.data(), bytes.size());
  tensors_[i].external = false;
  tensors_[i].missing = false;
  tensors_[i].location.clear();
  return absl::OkStatus();
}

bool OnnxModelWriter::WantsExternal(const OnnxModel& model) {
  return model.uses_external_data() || model.tensor_bytes() > kInlineLimit;
}

absl::StatusOr<std::unique_ptr<OnnxModelWriter>> OnnxModelWriter::Create(
    OnnxModel* model, const std::string& path, bool external) {
  std::unique_ptr<OnnxModelWriter> w(new OnnxModelWriter);
  w->model_ = model;
  w->path_ = path;
  w->external_ = external;
  if (external) {
    auto data = NewAtomicFile(w->data_path());
    if (!data.ok()) return data.status();
    w->data_ = *std::move(data);
  }
  return w;
}

absl::Status OnnxModelWriter::Append(size_t i, absl::string_view bytes) {
  if (i != next_) {
    return absl::InternalError(absl::StrCat(
        "ONNX tensor ", i, " appended out of order, expected ", next_));
  }
  ++next_;
  OnnxTensor& e = model_->tensors_[i];
  // Runtimes read Constant nodes and small tensors (shapes, axes) while
  // they load the graph, and some cannot from external data.
  if (!external_ || e.constant_node || bytes.size() < kExternalMinBytes) {
    return model_->Replace(i, bytes);
  }
  if (bytes.size() != e.bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("writing ONNX tensor ", e.name, ": ", bytes.size(),
                     " bytes given, ", e.bytes(), " expected"));
  }
  const uint64_t pad =
      (kExternalAlignment - data_->Size() % kExternalAlignment) %
      kExternalAlignment;
  if (pad > 0) {
    if (auto st = data_->Append(std::string(pad, '\0')); !st.ok()) return st;
  }
  const uint64_t offset = data_->Size();
  if (auto st = data_->Append(bytes); !st.ok()) return st;
  TensorProto& t = *model_->protos_[i];
  ClearData(t);
  t.set_data_location(TensorProto::EXTERNAL);
  auto entry = [&](const char* key, std::string value) {
    auto* kv = t.add_external_data();
    kv->set_key(key);
    kv->set_value(std::move(value));
  };
  e.location = fs::path(data_path()).filename().string();
  entry("location", e.location);
  entry("offset", std::to_string(offset));
  entry("length", std::to_string(bytes.size()));
  e.external = true;
  e.missing = false;
  return absl::OkStatus();
}

absl::Status OnnxModelWriter::Finish() {
  if (next_ != model_->tensors_.size()) {
    return absl::InternalError(absl::StrCat("ONNX model written with ", next_,
                                            " of ", model_->tensors_.size(),
                                            " tensors"));
  }
  // The model is serialized beside its destination first; then the data is
  // put in place, then the model, so a model file never points at data not
  // yet in place, and a failure before leaves neither file.
  auto file = NewAtomicFile(path_);
  if (!file.ok()) return file.status();
  FileOutput out(file->get());
  {
    google::protobuf::io::CopyingOutputStreamAdaptor adaptor(&out);
    if (!model_->proto_->SerializeToZeroCopyStream(&adaptor) ||
        !adaptor.Flush()) {
      return out.status().ok() ? absl::InternalError(absl::StrCat(
                                     "cannot serialize ONNX model ", path_))
                               : out.status();
    }
  }
  if (data_) {
    if (auto st = data_->Close(); !st.ok()) return st;
    // Later reads of the model (tests, a second export) find it here.
    model_->dir_ = DirectoryOf(path_);
  }
  return (*file)->Close();
}

}  // namespace condense::codec
