#include "codec/safetensors_shards.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "codec/cdz_export.h"
#include "codec/cdz_reader.h"
#include "codec/cdz_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace condense::codec {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

fs::path FreshDir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) / ("shards_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Random little-endian bytes for n elements of dtype.
std::string RandomBytes(DType dtype, uint64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> f(n);
  for (float& v : f) v = normal(rng);
  std::string out(n * DTypeSize(dtype), '\0');
  ConvertFromFloat32(dtype, f.data(), n,
                     reinterpret_cast<uint8_t*>(out.data()));
  return out;
}

struct Tensor {
  std::string name;
  DType dtype;
  std::vector<uint64_t> shape;
  std::string bytes;
};

// Two shards and an index, as Hugging Face's save_pretrained writes them.
std::vector<std::vector<Tensor>> MakeCheckpoint(const fs::path& dir) {
  std::vector<std::vector<Tensor>> shards = {
      {{"embed.weight", DType::kBF16, {32, 16}, {}},
       {"layers.0.attn.q.weight", DType::kBF16, {16, 16}, {}},
       {"layers.0.norm.weight", DType::kF32, {16}, {}}},
      {{"layers.1.mlp.up.weight", DType::kF16, {64, 16}, {}},
       {"lm_head.weight", DType::kBF16, {32, 16}, {}}}};
  uint32_t seed = 1;
  nlohmann::json map = nlohmann::json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file =
        "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
    std::vector<SafetensorsWriter::Tensor> declared;
    for (Tensor& t : shards[s]) {
      uint64_t n = 1;
      for (uint64_t d : t.shape) n *= d;
      t.bytes = RandomBytes(t.dtype, n, seed++);
      declared.push_back({t.name, t.dtype, t.shape});
      map[t.name] = file;
    }
    auto w = SafetensorsWriter::Create(*NewAtomicFile((dir / file).string()),
                                       declared, {{"format", "pt"}});
    EXPECT_TRUE(w.ok());
    for (const Tensor& t : shards[s]) {
      EXPECT_TRUE((*w)->Append(t.name, t.bytes).ok());
    }
    EXPECT_TRUE((*w)->Finish().ok());
  }
  Write(dir / "model.safetensors.index.json",
        nlohmann::json{{"metadata", {{"total_size", 1}, {"note", "x"}}},
                       {"weight_map", map}}
            .dump());
  return shards;
}

TEST(ShardedSafetensors, OpensADirectoryOrItsIndexInShardAndFileOrder) {
  const fs::path dir = FreshDir("open");
  const auto shards = MakeCheckpoint(dir);
  EXPECT_TRUE(ShardedSafetensors::Looks(dir.string()));
  EXPECT_TRUE(ShardedSafetensors::Looks(
      (dir / "model.safetensors.index.json").string()));
  EXPECT_FALSE(ShardedSafetensors::Looks(
      (dir / "model-00001-of-00002.safetensors").string()));
  for (const fs::path& p : {dir, dir / "model.safetensors.index.json"}) {
    auto c = ShardedSafetensors::Open(p.string());
    ASSERT_TRUE(c.ok()) << c.status();
    const ShardLayout& layout = (*c)->layout();
    EXPECT_EQ(layout.index_file, "model.safetensors.index.json");
    ASSERT_EQ(layout.shards.size(), 2u);
    EXPECT_EQ(layout.shards[0].metadata.at("format"), "pt");
    std::vector<std::string> names;
    for (const auto& e : (*c)->entries()) names.push_back(e.entry->name);
    std::vector<std::string> want;
    for (const auto& s : shards) {
      for (const Tensor& t : s) want.push_back(t.name);
    }
    EXPECT_EQ(names, want);
    const auto& last = (*c)->entries().back();
    std::vector<uint8_t> bytes;
    ASSERT_TRUE((*c)->shard(last.shard).ReadBytes(*last.entry, &bytes).ok());
    EXPECT_EQ(std::string(bytes.begin(), bytes.end()), shards[1][1].bytes);
    EXPECT_EQ((*c)->Files().size(), 3u);
  }
}

TEST(ShardedSafetensors, LayoutRoundTripsThroughJson) {
  const fs::path dir = FreshDir("json");
  MakeCheckpoint(dir);
  auto c = ShardedSafetensors::Open(dir.string());
  ASSERT_TRUE(c.ok());
  auto back = ShardLayoutFromJson(ShardLayoutToJson((*c)->layout()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ShardLayoutToJson(*back), ShardLayoutToJson((*c)->layout()));
  EXPECT_FALSE(ShardLayoutFromJson("{}").ok());
  EXPECT_FALSE(ShardLayoutFromJson(R"({"shards":[{"file":"../x"}]})").ok());
  EXPECT_FALSE(ShardLayoutFromJson(
                   R"({"shards":[{"file":"a","metadata":{},"tensors":[1]}]})")
                   .ok());
}

// A .cdz made from the checkpoint (raw here: the engine's compression is
// tested in the engine) decodes back to the same files, bit for bit.
TEST(ShardedSafetensors, ContainerDecodesBackToTheSameLayoutAndDTypes) {
  const fs::path dir = FreshDir("export");
  MakeCheckpoint(dir);
  auto c = ShardedSafetensors::Open(dir.string());
  ASSERT_TRUE(c.ok());
  const fs::path cdz = dir.parent_path() / "shards_export.cdz";
  {
    auto w = CdzWriter::Create(
        *NewAtomicFile(cdz.string()),
        {{kShardLayoutKey, ShardLayoutToJson((*c)->layout())}});
    ASSERT_TRUE(w.ok());
    for (const auto& e : (*c)->entries()) {
      std::vector<uint8_t> bytes;
      ASSERT_TRUE((*c)->shard(e.shard).ReadBytes(*e.entry, &bytes).ok());
      ASSERT_TRUE(
          (*w)->AddRaw(e.entry->name, e.entry->dtype, e.entry->shape, bytes)
              .ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
  }
  auto reader = CdzReader::OpenPath(cdz.string());
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(HasShardLayout(**reader));
  const fs::path out = dir.parent_path() / "shards_export_out";
  fs::remove_all(out);
  ASSERT_TRUE(ExportShardedSafetensors(**reader, out.string()).ok());
  for (const char* f : {"model-00001-of-00002.safetensors",
                        "model-00002-of-00002.safetensors"}) {
    EXPECT_EQ(Read(out / f), Read(dir / f)) << f;
  }
  const auto index =
      nlohmann::json::parse(Read(out / "model.safetensors.index.json"));
  const auto original =
      nlohmann::json::parse(Read(dir / "model.safetensors.index.json"));
  EXPECT_EQ(index["weight_map"], original["weight_map"]);
  EXPECT_EQ(index["metadata"]["note"], "x");
  // total_size is recomputed: the tensors' bytes.
  EXPECT_EQ(index["metadata"]["total_size"],
            32 * 16 * 2 + 16 * 16 * 2 + 16 * 4 + 64 * 16 * 2 + 32 * 16 * 2);
  // A second export replaces the first.
  ASSERT_TRUE(ExportShardedSafetensors(**reader, out.string()).ok());
}

TEST(ShardedSafetensors, DirectoryWithoutIndexTakesShardsInNameOrder) {
  const fs::path dir = FreshDir("noindex");
  MakeCheckpoint(dir);
  fs::remove(dir / "model.safetensors.index.json");
  auto c = ShardedSafetensors::Open(dir.string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE((*c)->layout().index_file.empty());
  EXPECT_EQ((*c)->entries().size(), 5u);
  EXPECT_EQ((*c)->layout().shards[1].file, "model-00002-of-00002.safetensors");
}

// Every broken checkpoint is an error that names what is wrong.
TEST(ShardedSafetensors, BrokenCheckpointsAreClearErrors) {
  struct Case {
    std::string name;
    std::function<void(const fs::path&)> breaker;
    std::string message;
  };
  const std::string index = "model.safetensors.index.json";
  auto edit_index = [&](const fs::path& dir,
                        const std::function<void(nlohmann::json&)>& f) {
    auto j = nlohmann::json::parse(Read(dir / index));
    f(j);
    Write(dir / index, j.dump());
  };
  const std::vector<Case> cases = {
      {"MissingShard",
       [](const fs::path& d) {
         fs::remove(d / "model-00002-of-00002.safetensors");
       },
       "model-00002-of-00002.safetensors"},
      {"TensorMappedToTheWrongShard",
       [&](const fs::path& d) {
         edit_index(d, [](nlohmann::json& j) {
           j["weight_map"]["lm_head.weight"] =
               "model-00001-of-00002.safetensors";
         });
       },
       "lm_head.weight"},
      {"TensorMissingFromTheIndex",
       [&](const fs::path& d) {
         edit_index(d, [](nlohmann::json& j) {
           j["weight_map"].erase("embed.weight");
         });
       },
       "embed.weight"},
      {"ShardOutsideTheDirectory",
       [&](const fs::path& d) {
         edit_index(d, [](nlohmann::json& j) {
           j["weight_map"]["embed.weight"] = "../model.safetensors";
         });
       },
       "not a file name"},
      {"IndexNotJson", [&](const fs::path& d) { Write(d / index, "{oops"); },
       "not a JSON object"},
      {"WeightMapNotAnObject",
       [&](const fs::path& d) { Write(d / index, R"({"weight_map": [1]})"); },
       "weight_map"},
      {"ShardOfANonString",
       [&](const fs::path& d) {
         edit_index(
             d, [](nlohmann::json& j) { j["weight_map"]["embed.weight"] = 3; });
       },
       "embed.weight"},
      {"TruncatedShard",
       [](const fs::path& d) {
         const fs::path f = d / "model-00001-of-00002.safetensors";
         fs::resize_file(f, fs::file_size(f) - 9);
       },
       "model-00001-of-00002.safetensors"},
      {"TwoIndexes",
       [&](const fs::path& d) {
         fs::copy_file(d / index, d / "other.safetensors.index.json");
       },
       "several indexes"},
      {"EmptyDirectory",
       [](const fs::path& d) {
         fs::remove_all(d);
         fs::create_directories(d);
       },
       "neither"},
  };
  for (const Case& c : cases) {
    const fs::path dir = FreshDir("broken_" + c.name);
    MakeCheckpoint(dir);
    c.breaker(dir);
    auto opened = ShardedSafetensors::Open(dir.string());
    ASSERT_FALSE(opened.ok()) << c.name;
    EXPECT_THAT(std::string(opened.status().message()), HasSubstr(c.message))
        << c.name;
  }
  // The same tensor in two shards without an index.
  const fs::path dir = FreshDir("broken_duplicate");
  MakeCheckpoint(dir);
  fs::remove(dir / index);
  fs::copy_file(dir / "model-00002-of-00002.safetensors",
                dir / "model-00003-of-00003.safetensors");
  auto opened = ShardedSafetensors::Open(dir.string());
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(std::string(opened.status().message()),
              HasSubstr("more than one shard"));
}

TEST(ShardedSafetensors, WriterRefusesMissingAndExtraTensors) {
  const fs::path dir = FreshDir("writer");
  ShardLayout layout;
  layout.index_file = "model.safetensors.index.json";
  layout.shards = {{"a.safetensors", {}, {"x", "y"}},
                   {"b.safetensors", {}, {}},
                   {"c.safetensors", {}, {"z"}}};
  std::map<std::string, SafetensorsWriter::Tensor> tensors = {
      {"x", {"x", DType::kF32, {1}}}, {"y", {"y", DType::kF32, {1}}}};
  EXPECT_FALSE(
      ShardedSafetensorsWriter::Create(dir.string(), layout, tensors).ok());
  tensors["z"] = {"z", DType::kF32, {1}};
  auto w = ShardedSafetensorsWriter::Create(dir.string(), layout, tensors);
  ASSERT_TRUE(w.ok());
  const float one = 1.0f;
  const absl::string_view b(reinterpret_cast<const char*>(&one), 4);
  ASSERT_TRUE((*w)->Append("x", b).ok());
  EXPECT_FALSE((*w)->Finish().ok());
  ASSERT_TRUE((*w)->Append("y", b).ok());
  ASSERT_TRUE((*w)->Append("z", b).ok());
  EXPECT_FALSE((*w)->Append("w", b).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  auto c = ShardedSafetensors::Open(dir.string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->entries().size(), 3u);
}

}  // namespace
}  // namespace condense::codec
