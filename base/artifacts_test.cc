#include "base/artifacts.h"

#include "gtest/gtest.h"

namespace condense::artifacts {
namespace {

TEST(IsArtifactName, EveryOutputAndEachShardFile) {
  for (const char* name : kAll) EXPECT_TRUE(IsArtifactName(name)) << name;
  EXPECT_TRUE(IsArtifactName("model-shards/model-00001-of-00002.safetensors"));
  EXPECT_TRUE(IsArtifactName("model-shards/model.safetensors.index.json"));
}

TEST(IsArtifactName, NothingThatLeavesTheDirectory) {
  for (const char* name :
       {"", ".", "..", "/etc/passwd", "model.cdz/", "other.bin", "model-shards",
        "model-shards/", "model-shards/.", "model-shards/..",
        "model-shards/a/b", "model-shards//a", "model-shards/..\\x",
        "model-shardsx/a", "x/model-shards/a", "../model-shards/a"}) {
    EXPECT_FALSE(IsArtifactName(name)) << name;
  }
  EXPECT_FALSE(IsArtifactName(std::string_view("model-shards/a\0b", 16)));
}

// Checked where the name arrives (server, CLI): it must be usable there.
static_assert(IsArtifactName(kCdz));
static_assert(!IsArtifactName("model-shards/../x"));

}  // namespace
}  // namespace condense::artifacts
