// Sharded safetensors checkpoints, as Hugging Face writes them: a directory
// of shard files (model-00001-of-00004.safetensors, ...) and an index
// (model.safetensors.index.json) whose "weight_map" names each tensor's
// shard. condense reads one shard's tensor at a time and writes the same
// layout back, shard by shard, so memory never holds more than a tensor.
//
// ShardedSafetensors is read-only after Open; its const methods are
// thread-safe. ShardedSafetensorsWriter is not thread-safe.
#ifndef CONDENSE_CODEC_SAFETENSORS_SHARDS_H_
#define CONDENSE_CODEC_SAFETENSORS_SHARDS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codec/safetensors.h"

namespace condense::codec {

// The manifest key under which a .cdz made from a sharded checkpoint keeps
// its layout (ShardLayoutToJson), so decoding can rebuild it.
inline constexpr char kShardLayoutKey[] = "safetensors_shards";

// Which tensors live in which shard, in file order, and what the index and
// each shard carry besides tensors.
struct ShardLayout {
  struct Shard {
    std::string file;  // A plain file name inside the checkpoint directory.
    std::map<std::string, std::string> metadata;  // Its __metadata__.
    std::vector<std::string> tensors;             // In file order.
  };
  // The index's file name; empty for a directory of shards without one.
  std::string index_file;
  // The index's "metadata" object as JSON text ("{}" when it has none).
  std::string index_metadata = "{}";
  std::vector<Shard> shards;
};

std::string ShardLayoutToJson(const ShardLayout& layout);
// InvalidArgument when the text is not a layout ShardLayoutToJson wrote.
absl::StatusOr<ShardLayout> ShardLayoutFromJson(const std::string& json);

class ShardedSafetensors {
 public:
  // `path` is the index file, or a directory holding one index
  // (*.safetensors.index.json) or, without an index, the shards
  // (*.safetensors, taken in name order). Every shard the index names must
  // exist and hold exactly the tensors the index maps to it; names are
  // unique across shards. Errors name the file and the tensor.
  static absl::StatusOr<std::unique_ptr<ShardedSafetensors>> Open(
      const std::string& path);

  // Whether `path` looks like a sharded checkpoint (a directory, or a JSON
  // object with a "weight_map"), from the file system and the first bytes.
  static bool Looks(const std::string& path);

  struct Entry {
    size_t shard;                   // Index into layout().shards.
    const SafetensorsEntry* entry;  // Owned by shard(shard).
  };

  const ShardLayout& layout() const { return layout_; }
  const std::string& directory() const { return directory_; }
  // Every tensor, shard by shard, each shard in file order.
  const std::vector<Entry>& entries() const { return entries_; }
  const SafetensorsReader& shard(size_t i) const { return *readers_[i]; }
  // The files a digest of the checkpoint covers: the index (if any) and the
  // shards, in layout order.
  std::vector<std::string> Files() const;

 private:
  ShardedSafetensors() = default;

  ShardLayout layout_;
  std::string directory_;
  std::vector<std::unique_ptr<SafetensorsReader>> readers_;
  std::vector<Entry> entries_;
};

// Writes a checkpoint laid out as `layout` into directory `dir` (created if
// missing; files already there with the same names are replaced atomically).
// Tensors are appended in layout order, shard after shard; the index (when
// the layout has one) is written by Finish, its "total_size" recomputed.
class ShardedSafetensorsWriter {
 public:
  // `tensors` gives every tensor of the layout its dtype and shape.
  static absl::StatusOr<std::unique_ptr<ShardedSafetensorsWriter>> Create(
      const std::string& dir, ShardLayout layout,
      const std::map<std::string, SafetensorsWriter::Tensor>& tensors);

  // The next tensor in layout order: exactly numel * dtype size bytes.
  absl::Status Append(const std::string& name, absl::string_view bytes);
  // Fails unless every tensor was appended.
  absl::Status Finish();

 private:
  ShardedSafetensorsWriter() = default;
  absl::Status OpenShard(size_t i);

  std::string dir_;
  ShardLayout layout_;
  std::map<std::string, SafetensorsWriter::Tensor> tensors_;
  size_t shard_ = 0;     // The shard being written.
  size_t in_shard_ = 0;  // Tensors of it appended so far.
  std::unique_ptr<SafetensorsWriter> writer_;
  uint64_t total_bytes_ = 0;
};

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_SAFETENSORS_SHARDS_H_
