#include "codec/safetensors.h"

#include <cstring>

#include "codec/byte_io.h"
#include "gtest/gtest.h"

namespace condense::codec {
namespace {

std::string Make(const std::string& header, const std::string& data) {
  std::string out;
  ByteWriter(&out).U64(header.size());
  return out + header + data;
}

TEST(Safetensors, WritesWhatItReadsWithAlignedData) {
  std::string file;
  auto w = SafetensorsWriter::Create(
      NewStringFile(&file),
      {{"b", DType::kF32, {2}}, {"a", DType::kI64, {1, 1}}}, {{"k", "v"}});
  ASSERT_TRUE(w.ok());
  const float b[2] = {1.5f, -2.0f};
  const int64_t a = -7;
  EXPECT_FALSE((*w)->Append("a", {reinterpret_cast<const char*>(&a), 8}).ok());
  ASSERT_TRUE((*w)->Append("b", {reinterpret_cast<const char*>(b), 8}).ok());
  EXPECT_FALSE((*w)->Finish().ok());
  ASSERT_TRUE((*w)->Append("a", {reinterpret_cast<const char*>(&a), 8}).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_EQ(LoadLE64(reinterpret_cast<const uint8_t*>(file.data())) % 8, 0u);

  auto r = SafetensorsReader::Open(NewMemoryFile(file));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->metadata().at("k"), "v");
  ASSERT_EQ((*r)->entries().size(), 2u);
  EXPECT_EQ((*r)->entries()[0].name, "b");
  std::vector<float> vals;
  ASSERT_TRUE((*r)->ReadFloat32((*r)->entries()[0], &vals).ok());
  EXPECT_EQ(vals, (std::vector<float>{1.5f, -2.0f}));
  std::vector<uint8_t> raw;
  ASSERT_TRUE((*r)->ReadBytes((*r)->entries()[1], &raw).ok());
  int64_t back;
  std::memcpy(&back, raw.data(), 8);
  EXPECT_EQ(back, -7);
  EXPECT_FALSE((*r)->ReadFloat32((*r)->entries()[1], &vals).ok());
}

TEST(Safetensors, MalformedFilesAreClearErrors) {
  const std::string data(16, '\0');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "not a JSON object"},
      {R"({"t":{"dtype":"F32","shape":[2]}})", "data_offsets"},
      {R"({"t":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})",
       "unsupported dtype"},
      {R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "need 12"},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
       "outside"},
      {R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],)"
       R"("data_offsets":[0,8]}})",
       "elements"},
      {R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("u":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       "overlap"},
  };
  for (const auto& [header, expect] : cases) {
    auto r = SafetensorsReader::Open(NewMemoryFile(Make(header, data)));
    ASSERT_FALSE(r.ok()) << header;
    EXPECT_NE(r.status().message().find(expect), std::string::npos)
        << r.status();
  }
  std::string lying;
  ByteWriter(&lying).U64(uint64_t{1} << 60);
  EXPECT_FALSE(SafetensorsReader::Open(NewMemoryFile(lying)).ok());
  EXPECT_FALSE(SafetensorsReader::Open(NewMemoryFile("abc")).ok());
}

}  // namespace
}  // namespace condense::codec
