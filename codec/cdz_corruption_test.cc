// Damaged, truncated and malicious .cdz files: every one must give an error
// that names the problem (and the tensor, where one is damaged), never a
// crash, a hang or undefined behaviour. Run under ASan/UBSan in CI.
#include <random>

#include "codec/byte_io.h"
#include "codec/cdz_format.h"
#include "codec/cdz_reader.h"
#include "codec/cdz_test_util.h"
#include "gtest/gtest.h"

namespace condense::codec {
namespace {

using testing::FixSectionCrc;
using testing::OpenBytes;
using testing::SampleModel;
using testing::WriteModel;

Manifest CorruptionManifest() { return {{"producer", "corruption test"}}; }

// Opens and decodes everything; returns the first error.
absl::Status OpenAndDecodeAll(const std::string& file,
                              ReaderOptions options = {}) {
  auto reader = OpenBytes(file, options);
  if (!reader.ok()) return reader.status();
  DecodedTensor t;
  for (size_t i = 0; i < (*reader)->tensors().size(); ++i) {
    if (auto s = (*reader)->Decode(i, &t); !s.ok()) return s;
  }
  return (*reader)->Sizes().status();
}

// Section boundaries of a well-formed file.
std::vector<uint64_t> SectionOffsets(const std::string& file) {
  std::vector<uint64_t> offsets = {0, cdz::kFileHeaderSize};
  uint64_t off = cdz::kFileHeaderSize;
  const auto* p = reinterpret_cast<const uint8_t*>(file.data());
  while (off < file.size()) {
    off += cdz::kSectionHeaderSize + LoadLE64(p + off + 8) +
           cdz::kSectionTrailerSize;
    offsets.push_back(off);
  }
  return offsets;
}

class CdzCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = WriteModel(SampleModel(9), CorruptionManifest());
    ASSERT_FALSE(file_.empty());
    auto reader = OpenBytes(file_);
    ASSERT_TRUE(reader.ok());
    tensors_ = (*reader)->tensors();
  }
  // The tensor whose section holds byte `pos`, if any.
  const cdz::TensorInfo* TensorAt(uint64_t pos) const {
    for (const auto& t : tensors_) {
      if (pos >= t.section_offset && pos < t.section_offset + t.section_size) {
        return &t;
      }
    }
    return nullptr;
  }

  std::string file_;
  std::vector<cdz::TensorInfo> tensors_;
};

TEST_F(CdzCorruption, TruncationAtEverySectionBoundaryIsReported) {
  for (uint64_t boundary : SectionOffsets(file_)) {
    for (int64_t delta : {-1, 0, 1}) {
      const int64_t cut = static_cast<int64_t>(boundary) + delta;
      if (cut < 0 || cut >= static_cast<int64_t>(file_.size())) continue;
      auto s = OpenAndDecodeAll(file_.substr(0, cut));
      ASSERT_FALSE(s.ok()) << "cut at " << cut;
      EXPECT_TRUE(s.message().find("truncated") != std::string::npos ||
                  s.message().find("too small") != std::string::npos)
          << cut << ": " << s;
    }
  }
  for (size_t cut = 0; cut < file_.size(); cut += 61) {
    EXPECT_FALSE(OpenAndDecodeAll(file_.substr(0, cut)).ok()) << cut;
  }
}

TEST_F(CdzCorruption, BitFlipsAreDetectedAndNameTheDamagedTensor) {
  std::mt19937_64 rng(1);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = file_;
    const uint64_t pos = rng() % bad.size();
    bad[pos] = static_cast<char>(bad[pos] ^ (1 << (rng() % 8)));
    auto s = OpenAndDecodeAll(bad);
    ASSERT_FALSE(s.ok()) << "flip at byte " << pos << " went unnoticed";
    if (const cdz::TensorInfo* t = TensorAt(pos)) {
      EXPECT_NE(s.message().find("'" + t->name + "'"), std::string::npos)
          << "flip at " << pos << ": " << s;
    }
  }
}

TEST_F(CdzCorruption, TamperedPayloadsWithValidChecksumsNeverCrash) {
  // An attacker can recompute CRCs: the decoders' own checks must hold.
  std::mt19937_64 rng(2);
  int errors = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = file_;
    const auto& t = tensors_[rng() % 3];  // The compressed tensors.
    const uint64_t body =
        t.section_size - cdz::kSectionHeaderSize - cdz::kSectionTrailerSize;
    const uint64_t pos =
        t.section_offset + cdz::kSectionHeaderSize + rng() % body;
    bad[pos] = static_cast<char>(rng());
    FixSectionCrc(&bad, t.section_offset);
    auto s = OpenAndDecodeAll(bad);
    if (!s.ok()) {
      ++errors;
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
      EXPECT_NE(s.message().find(t.name), std::string::npos) << s;
    }
  }
  EXPECT_GT(errors, 1000);
}

// Finds the index entry of `name` and returns the offset of its rank byte.
uint64_t IndexRankOffset(const std::string& file, const std::string& name) {
  const auto* p = reinterpret_cast<const uint8_t*>(file.data());
  const uint64_t index = LoadLE64(p + file.size() - cdz::kEndSectionSize + 16);
  const uint64_t at = file.find(name, index);
  return at + name.size() + 1;  // Skip the dtype byte.
}

TEST_F(CdzCorruption, AbsurdShapesAreRefusedBeforeAllocating) {
  const std::string name = "classifier.fc1.weight";
  const uint64_t index =
      LoadLE64(reinterpret_cast<const uint8_t*>(file_.data()) + file_.size() -
               cdz::kEndSectionSize + 16);
  // Dims whose product overflows 64 bits.
  std::string bad = file_;
  auto* p = reinterpret_cast<uint8_t*>(bad.data());
  const uint64_t rank_at = IndexRankOffset(bad, name);
  ASSERT_EQ(p[rank_at], 2);
  StoreLE64(p + rank_at + 1, uint64_t{1} << 40);
  StoreLE64(p + rank_at + 9, uint64_t{1} << 40);
  FixSectionCrc(&bad, index);
  auto s = OpenAndDecodeAll(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("elements"), std::string::npos) << s;
  EXPECT_NE(s.message().find(name), std::string::npos) << s;

  // Rank beyond the maximum.
  bad = file_;
  p = reinterpret_cast<uint8_t*>(bad.data());
  p[rank_at] = 200;
  FixSectionCrc(&bad, index);
  s = OpenAndDecodeAll(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rank 200"), std::string::npos) << s;

  // A decompression bomb: a plausible shape above the reader's limit.
  ReaderOptions small;
  small.max_tensor_elements = 1000;
  s = OpenAndDecodeAll(file_, small);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("limit"), std::string::npos) << s;
}

TEST_F(CdzCorruption, LyingLengthFieldsAreReported) {
  const auto& t = tensors_[1];
  // Section length far beyond the file.
  std::string bad = file_;
  auto* p = reinterpret_cast<uint8_t*>(bad.data());
  StoreLE64(p + t.section_offset + 8, uint64_t{1} << 50);
  auto s = OpenAndDecodeAll(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'" + t.name + "'"), std::string::npos) << s;

  // Length one short, with a valid CRC at the new place.
  bad = file_;
  p = reinterpret_cast<uint8_t*>(bad.data());
  StoreLE64(p + t.section_offset + 8, LoadLE64(p + t.section_offset + 8) - 1);
  FixSectionCrc(&bad, t.section_offset);
  s = OpenAndDecodeAll(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'" + t.name + "'"), std::string::npos) << s;

  // END pointing into the middle of a tensor.
  bad = file_;
  p = reinterpret_cast<uint8_t*>(bad.data());
  const uint64_t end = bad.size() - cdz::kEndSectionSize;
  StoreLE64(p + end + 16, t.section_offset + 3);
  FixSectionCrc(&bad, end);
  s = OpenAndDecodeAll(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST_F(CdzCorruption, NotACdzFileSaysSo) {
  auto s = OpenAndDecodeAll(std::string(100, 'x'));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a .cdz file"), std::string::npos) << s;
  s = OpenAndDecodeAll("");
  EXPECT_NE(s.message().find("too small"), std::string::npos) << s;
}

}  // namespace
}  // namespace condense::codec
