#include "worker/engine/checkpoint.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "worker/engine/snapshot.h"
#include "worker/engine/torch_status.h"

namespace condense::engine {
namespace {

namespace fs = std::filesystem;

constexpr char kFile[] = "checkpoint.pt";

std::string Key(const char* kind, size_t i, const char* field = "") {
  return absl::StrCat(kind, "_", i, field[0] ? "_" : "", field);
}

}  // namespace

std::string CheckpointPath(const std::string& dir) {
  return (fs::path(dir) / kFile).string();
}

absl::Status SaveCheckpoint(const std::string& dir,
                            const std::string& fingerprint, Model& model,
                            const CheckpointState& state) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string path = CheckpointPath(dir);
  const std::string tmp = path + ".tmp";
  absl::Status st = TorchCall("saving a checkpoint", [&]() -> absl::Status {
    torch::serialize::OutputArchive a;
    a.write("fingerprint", c10::IValue(fingerprint));
    a.write("stages_done", c10::IValue(int64_t{state.stages_done}));
    nlohmann::json records = nlohmann::json::array();
    for (const StageRecord& r : state.stages) records.push_back(ToJson(r));
    a.write("report", c10::IValue(records.dump()));
    a.write("rng", at::detail::getDefaultCPUGenerator().get_state());
    for (size_t i = 0; i < model.tensors().size(); ++i) {
      a.write(Key("tensor", i),
              model.tensors()[i].tensor.detach().to(torch::kCPU));
    }
    for (size_t i = 0; i < model.layers().size(); ++i) {
      const Layer& l = model.layers()[i];
      WriteIfDefined(a, Key("layer", i, "mask"), l.mask);
      WriteIfDefined(a, Key("layer", i, "nz_index"), l.nz_index);
      WriteIfDefined(a, Key("layer", i, "nz_assign"), l.nz_assign);
      WriteIfDefined(a, Key("layer", i, "centroids"), l.centroids);
      a.write(Key("layer", i, "dense_std"), c10::IValue(l.dense_std));
    }
    a.save_to(tmp);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  fs::rename(tmp, path, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(
        "cannot move checkpoint into place at ", path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckpointState> LoadCheckpoint(const std::string& dir,
                                               const std::string& fingerprint,
                                               Model& model) {
  CheckpointState state;
  const std::string path = CheckpointPath(dir);
  if (dir.empty() || !fs::exists(path)) return state;
  absl::Status st = TorchCall(
      absl::StrCat("reading checkpoint ", path, " (delete it to start afresh)"),
      [&]() -> absl::Status {
        torch::serialize::InputArchive a;
        a.load_from(path);
        c10::IValue value;
        a.read("fingerprint", value);
        if (value.toStringRef() != fingerprint) return absl::OkStatus();
        a.read("stages_done", value);
        const auto done = static_cast<int>(value.toInt());
        a.read("report", value);
        std::vector<StageRecord> records;
        for (const nlohmann::json& j :
             nlohmann::json::parse(value.toStringRef())) {
          auto record = StageRecordFromJson(j);
          if (!record.ok()) return record.status();
          records.push_back(*std::move(record));
        }
        torch::Tensor rng;
        a.read("rng", rng);
        torch::NoGradGuard no_grad;
        for (size_t i = 0; i < model.tensors().size(); ++i) {
          torch::Tensor t;
          a.read(Key("tensor", i), t);
          model.tensors()[i].tensor.copy_(t);
        }
        for (size_t i = 0; i < model.layers().size(); ++i) {
          Layer& l = model.layers()[i];
          const torch::Device device = l.param.device();
          l.mask = ReadIfPresent(a, Key("layer", i, "mask"), device);
          l.nz_index = ReadIfPresent(a, Key("layer", i, "nz_index"), device);
          l.nz_assign = ReadIfPresent(a, Key("layer", i, "nz_assign"), device);
          l.centroids = ReadIfPresent(a, Key("layer", i, "centroids"), device);
          a.read(Key("layer", i, "dense_std"), value);
          l.dense_std = value.toDouble();
        }
        at::Generator gen = at::detail::getDefaultCPUGenerator();
        gen.set_state(rng);
        state.stages_done = done;
        state.stages = std::move(records);
        return absl::OkStatus();
      },
      absl::StatusCode::kDataLoss);
  if (!st.ok()) return st;
  return state;
}

}  // namespace condense::engine
