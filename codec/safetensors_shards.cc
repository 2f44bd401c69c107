#include "codec/safetensors_shards.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace condense::codec {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kIndexSuffix[] = ".safetensors.index.json";
// An index maps names to file names; anything larger is not an index.
constexpr uintmax_t kMaxIndexBytes = 64 << 20;

absl::Status BadIndex(const std::string& file, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      file, ": not a valid sharded safetensors index: ", what,
      " (expected {\"metadata\": {...}, \"weight_map\": {tensor: shard}})"));
}

// A shard named by an index must stay inside the checkpoint's directory.
bool PlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, ": ", ec.message()));
  }
  if (size > kMaxIndexBytes) {
    return BadIndex(path, absl::StrCat(size, " bytes, over the 64 MiB limit"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string text(size, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  return text;
}

// The shards an index names, each with the tensors it maps there (Open
// replaces those with the shard's own file order once it has checked them).
absl::StatusOr<ShardLayout> LayoutFromIndex(const std::string& path) {
  auto text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return BadIndex(path, "not a JSON object");
  }
  if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
    return BadIndex(path, "no \"weight_map\" object");
  }
  ShardLayout layout;
  layout.index_file = fs::path(path).filename().string();
  if (j.contains("metadata")) {
    if (!j["metadata"].is_object()) {
      return BadIndex(path, "\"metadata\" is not an object");
    }
    layout.index_metadata = j["metadata"].dump();
  }
  std::map<std::string, size_t> shard_of_file;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it->is_string()) {
      return BadIndex(path, absl::StrCat("the shard of tensor '", it.key(),
                                         "' is not a string"));
    }
    const std::string file = it->get<std::string>();
    if (!PlainFileName(file)) {
      return BadIndex(path,
                      absl::StrCat("tensor '", it.key(), "' maps to '", file,
                                   "', which is not a file name in the "
                                   "index's directory"));
    }
    auto [slot, fresh] = shard_of_file.emplace(file, layout.shards.size());
    if (fresh)
      layout.shards.push_back({.file = file, .metadata = {}, .tensors = {}});
    layout.shards[slot->second].tensors.push_back(it.key());
  }
  if (layout.shards.empty()) return BadIndex(path, "the weight_map is empty");
  // Shards in name order (model-00001-of-..., ...), whatever the map's order.
  std::sort(layout.shards.begin(), layout.shards.end(),
            [](const auto& a, const auto& b) { return a.file < b.file; });
  return layout;
}

absl::StatusOr<ShardLayout> LayoutFromDirectory(const std::string& dir) {
  std::vector<std::string> indexes, shards;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (absl::EndsWith(name, kIndexSuffix)) {
      indexes.push_back(name);
    } else if (absl::EndsWith(name, ".safetensors") && e.is_regular_file()) {
      shards.push_back(name);
    }
  }
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("cannot list ", dir, ": ", ec.message()));
  }
  if (indexes.size() > 1) {
    std::sort(indexes.begin(), indexes.end());
    return absl::InvalidArgumentError(
        absl::StrCat(dir, " holds several indexes (",
                     absl::StrJoin(indexes, ", "), "): pass the one to use"));
  }
  if (indexes.size() == 1) {
    return LayoutFromIndex((fs::path(dir) / indexes[0]).string());
  }
  if (shards.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir,
        " holds neither a *.safetensors.index.json index nor *.safetensors "
        "shards"));
  }
  std::sort(shards.begin(), shards.end());
  ShardLayout layout;
  for (const std::string& s : shards) {
    layout.shards.push_back({.file = s, .metadata = {}, .tensors = {}});
  }
  return layout;
}

}  // namespace

std::string ShardLayoutToJson(const ShardLayout& layout) {
  json shards = json::array();
  for (const ShardLayout::Shard& s : layout.shards) {
    shards.push_back(
        {{"file", s.file}, {"metadata", s.metadata}, {"tensors", s.tensors}});
  }
  return json{{"index", layout.index_file},
              {"index_metadata", layout.index_metadata},
              {"shards", shards}}
      .dump();
}

absl::StatusOr<ShardLayout> ShardLayoutFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  auto bad = [](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("the .cdz's shard layout (manifest key ", kShardLayoutKey,
                     ") is damaged: ", what));
  };
  if (j.is_discarded() || !j.is_object() || !j.contains("shards") ||
      !j["shards"].is_array()) {
    return bad("no shards list");
  }
  ShardLayout layout;
  try {
    layout.index_file = j.value("index", "");
    layout.index_metadata = j.value("index_metadata", "{}");
    for (const json& s : j["shards"]) {
      ShardLayout::Shard shard;
      shard.file = s.at("file").get<std::string>();
      shard.metadata =
          s.at("metadata").get<std::map<std::string, std::string>>();
      shard.tensors = s.at("tensors").get<std::vector<std::string>>();
      if (!PlainFileName(shard.file)) {
        return bad(absl::StrCat("'", shard.file, "' is not a plain file name"));
      }
      layout.shards.push_back(std::move(shard));
    }
  } catch (const json::exception& e) {
    return bad(e.what());
  }
  if (!layout.index_file.empty() && !PlainFileName(layout.index_file)) {
    return bad(
        absl::StrCat("'", layout.index_file, "' is not a plain file name"));
  }
  return layout;
}

bool ShardedSafetensors::Looks(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return true;
  std::ifstream in(path, std::ios::binary);
  char head[64] = {};
  in.read(head, sizeof(head));
  const std::string start(head, static_cast<size_t>(in.gcount()));
  const size_t first = start.find_first_not_of(" \t\r\n");
  // An index is a JSON object; a safetensors file starts with a length.
  if (first == std::string::npos || start[first] != '{') return false;
  auto text = ReadSmallFile(path);
  if (!text.ok()) return false;
  json j = json::parse(*text, nullptr, false);
  return j.is_object() && j.contains("weight_map");
}

absl::StatusOr<std::unique_ptr<ShardedSafetensors>> ShardedSafetensors::Open(
    const std::string& path) {
  std::error_code ec;
  const bool is_dir = fs::is_directory(path, ec);
  if (!is_dir && !fs::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", path, " not found"));
  }
  auto layout = is_dir ? LayoutFromDirectory(path) : LayoutFromIndex(path);
  if (!layout.ok()) return layout.status();
  std::unique_ptr<ShardedSafetensors> s(new ShardedSafetensors);
  const fs::path dir = is_dir ? fs::path(path) : fs::path(path).parent_path();
  s->directory_ = (dir.empty() ? fs::path(".") : dir).string();
  s->layout_ = *std::move(layout);
  std::set<std::string> seen;
  for (size_t i = 0; i < s->layout_.shards.size(); ++i) {
    ShardLayout::Shard& shard = s->layout_.shards[i];
    const std::string file = (fs::path(s->directory_) / shard.file).string();
    auto reader = SafetensorsReader::OpenPath(file);
    if (!reader.ok()) {
      return absl::Status(reader.status().code(),
                          absl::StrCat("shard ", shard.file, " of ", path, ": ",
                                       reader.status().message()));
    }
    shard.metadata = (*reader)->metadata();
    std::set<std::string> mapped(shard.tensors.begin(), shard.tensors.end());
    const bool indexed = !s->layout_.index_file.empty();
    shard.tensors.clear();
    for (const SafetensorsEntry& e : (*reader)->entries()) {
      if (indexed && mapped.erase(e.name) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("shard ", shard.file, " holds tensor '", e.name,
                         "', which ", s->layout_.index_file,
                         " does not map to it: fix the index or the shard"));
      }
      if (!seen.insert(e.name).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", e.name, "' is in more than one shard (",
                         shard.file, " again): names must be unique"));
      }
      shard.tensors.push_back(e.name);
      s->entries_.push_back({i, &e});
    }
    if (!mapped.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          s->layout_.index_file, " maps tensor '", *mapped.begin(), "' to ",
          shard.file, ", which does not hold it: fix the index or the shard"));
    }
    s->readers_.push_back(*std::move(reader));
  }
  // entries_ points into readers_' entry vectors, which no longer move.
  return s;
}

std::vector<std::string> ShardedSafetensors::Files() const {
  std::vector<std::string> files;
  if (!layout_.index_file.empty()) {
    files.push_back((fs::path(directory_) / layout_.index_file).string());
  }
  for (const ShardLayout::Shard& s : layout_.shards) {
    files.push_back((fs::path(directory_) / s.file).string());
  }
  return files;
}

absl::StatusOr<std::unique_ptr<ShardedSafetensorsWriter>>
ShardedSafetensorsWriter::Create(
    const std::string& dir, ShardLayout layout,
    const std::map<std::string, SafetensorsWriter::Tensor>& tensors) {
  for (const ShardLayout::Shard& s : layout.shards) {
    for (const std::string& t : s.tensors) {
      if (!tensors.contains(t)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "no dtype and shape given for tensor '", t, "' of ", s.file));
      }
    }
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create directory ", dir, ": ", ec.message()));
  }
  std::unique_ptr<ShardedSafetensorsWriter> w(new ShardedSafetensorsWriter);
  w->dir_ = dir;
  w->layout_ = std::move(layout);
  w->tensors_ = tensors;
  if (auto s = w->OpenShard(0); !s.ok()) return s;
  return w;
}

absl::Status ShardedSafetensorsWriter::OpenShard(size_t i) {
  shard_ = i;
  in_shard_ = 0;
  writer_.reset();
  if (i >= layout_.shards.size()) return absl::OkStatus();
  const ShardLayout::Shard& s = layout_.shards[i];
  std::vector<SafetensorsWriter::Tensor> declared;
  for (const std::string& t : s.tensors) declared.push_back(tensors_.at(t));
  auto file = NewAtomicFile((fs::path(dir_) / s.file).string());
  if (!file.ok()) return file.status();
  auto writer = SafetensorsWriter::Create(*std::move(file), std::move(declared),
                                          s.metadata);
  if (!writer.ok()) return writer.status();
  writer_ = *std::move(writer);
  // A shard without tensors is complete at once.
  if (s.tensors.empty()) {
    if (auto st = writer_->Finish(); !st.ok()) return st;
    return OpenShard(i + 1);
  }
  return absl::OkStatus();
}

absl::Status ShardedSafetensorsWriter::Append(const std::string& name,
                                              absl::string_view bytes) {
  if (writer_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("tensor '", name, "' appended after the last shard"));
  }
  if (auto s = writer_->Append(name, bytes); !s.ok()) return s;
  total_bytes_ += bytes.size();
  if (++in_shard_ < layout_.shards[shard_].tensors.size()) {
    return absl::OkStatus();
  }
  if (auto s = writer_->Finish(); !s.ok()) return s;
  return OpenShard(shard_ + 1);
}

absl::Status ShardedSafetensorsWriter::Finish() {
  if (writer_ != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shard ", layout_.shards[shard_].file, " is missing tensors from '",
        layout_.shards[shard_].tensors[in_shard_], "' on"));
  }
  if (layout_.index_file.empty()) return absl::OkStatus();
  json metadata = json::parse(layout_.index_metadata, nullptr, false);
  if (!metadata.is_object()) metadata = json::object();
  metadata["total_size"] = total_bytes_;
  json weight_map = json::object();
  for (const ShardLayout::Shard& s : layout_.shards) {
    for (const std::string& t : s.tensors) weight_map[t] = s.file;
  }
  const std::string text =
      json{{"metadata", metadata}, {"weight_map", weight_map}}.dump(2) + "\n";
  auto file = NewAtomicFile((fs::path(dir_) / layout_.index_file).string());
  if (!file.ok()) return file.status();
  if (auto s = (*file)->Append(text); !s.ok()) return s;
  return (*file)->Close();
}

}  // namespace condense::codec
