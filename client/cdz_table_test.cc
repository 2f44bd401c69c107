// The inspect table and JSON lay out the codec's size report.
#include "client/cdz_table.h"

#include "gtest/gtest.h"

namespace condense::client {
namespace {

codec::ModelSize Sizes() {
  codec::ModelSize m;
  codec::TensorSize w;
  w.name = "fc1.weight";
  w.encoding = codec::cdz::Encoding::kSparseQuantized;
  w.numel = 1000;
  w.original_bytes = 4000;
  w.nonzeros = 100;
  w.index_bytes = 50;
  w.position_bytes = 60;
  w.total_bytes = 200;
  codec::TensorSize b;
  b.name = "fc1.bias";
  b.numel = 10;
  b.original_bytes = 40;
  b.nonzeros = 10;
  b.raw_bytes = 40;
  b.total_bytes = 60;
  m.tensors = {w, b};
  m.file_bytes = 300;
  m.container_bytes = 40;
  return m;
}

std::vector<codec::cdz::TensorInfo> Infos() {
  codec::cdz::TensorInfo w;
  w.name = "fc1.weight";
  w.shape = {10, 100};
  codec::cdz::TensorInfo b;
  b.name = "fc1.bias";
  b.shape = {10};
  return {w, b};
}

TEST(FormatShape, Dims) {
  EXPECT_EQ(FormatShape({300, 784}), "300x784");
  EXPECT_EQ(FormatShape({10}), "10");
  EXPECT_EQ(FormatShape({}), "scalar");
}

TEST(RenderCdzTable, RowsAndTotals) {
  const std::string table = RenderCdzTable(Sizes(), Infos());
  EXPECT_NE(table.find("shape"), std::string::npos) << table;
  EXPECT_NE(table.find("fc1.weight 10x100"), std::string::npos) << table;
  EXPECT_NE(table.find("10.00%"), std::string::npos) << table;  // density
  EXPECT_NE(table.find("20.0x"), std::string::npos) << table;   // 4000/200
  EXPECT_NE(table.find("total: 2 tensors, 1010 params"), std::string::npos)
      << table;
  // 4040 original bytes / 300 in file.
  EXPECT_NE(table.find("ratio 13.5x"), std::string::npos) << table;
}

TEST(CdzJson, AddsShapes) {
  const nlohmann::json j = CdzJson(Sizes(), Infos());
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json({10, 100}));
  EXPECT_EQ(j["tensors"][1]["shape"], nlohmann::json({10}));
  EXPECT_EQ(j["file_bytes"], 300);
}

}  // namespace
}  // namespace condense::client
