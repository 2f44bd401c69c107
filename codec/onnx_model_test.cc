#include "codec/onnx_model.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "codec/cdz_reader.h"
#include "codec/cdz_writer.h"
#include "codec/onnx_export.h"
#include "codec/onnx_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onnx/onnx_pb.h"

namespace condense::codec {
namespace {

namespace fs = std::filesystem;
using ::condense::codec::testing::SetRawFloats;
using ::condense::codec::testing::ZooModel;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Points the first initializer at external data described by `entries`.
void MoveToExternal(
    onnx::ModelProto& m,
    const std::vector<std::pair<std::string, std::string>>& entries) {
  auto* t = m.mutable_graph()->mutable_initializer(0);
  t->clear_raw_data();
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  for (const auto& [key, value] : entries) {
    auto* kv = t->add_external_data();
    kv->set_key(key);
    kv->set_value(value);
  }
}

std::vector<uint8_t> Read(const OnnxModel& m, size_t i) {
  auto r = m.Read(i);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<uint8_t>{};
}

std::vector<float> Floats(const std::vector<uint8_t>& b) {
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

TEST(OnnxModelTest, IndexesEveryWeightWithTheOpsThatUseIt) {
  const std::string bytes = ZooModel().SerializeAsString();
  auto m = OnnxModel::Parse(bytes, "zoo.onnx", "");
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<std::string> names;
  for (const OnnxTensor& t : (*m)->tensors()) names.push_back(t.name);
  EXPECT_THAT(names, ElementsAre("fc.w", "fc.b", "conv.w", "emb", "shape",
                                 "lstm.W", "lstm.R", "k", "if0/fc.w"));
  const auto& t = (*m)->tensors();
  EXPECT_THAT(t[0].uses, ElementsAre(OnnxUse{"MatMul", 1}));  // Via Transpose.
  EXPECT_THAT(t[1].uses, ElementsAre(OnnxUse{"Add", 1}));     // Shared, once.
  EXPECT_THAT(t[2].uses, ElementsAre(OnnxUse{"Conv", 1}));
  EXPECT_EQ(t[3].dtype, DType::kF16);
  EXPECT_THAT(t[3].uses, ElementsAre(OnnxUse{"Gather", 0}));
  EXPECT_EQ(t[4].dtype, DType::kI64);
  EXPECT_THAT(t[5].uses, ElementsAre(OnnxUse{"LSTM", 1}));
  EXPECT_THAT(t[6].uses, ElementsAre(OnnxUse{"LSTM", 2}));
  EXPECT_TRUE(t[7].constant_node);
  EXPECT_THAT(t[7].uses, ElementsAre(OnnxUse{"MatMul", 1}));
  EXPECT_THAT(t[8].shape, ElementsAre(2, 2));

  EXPECT_THAT(Floats(Read(**m, 0)), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(Floats(Read(**m, 2)), ElementsAre(1, -1, 2, -2));
  EXPECT_THAT(Read(**m, 3),
              ElementsAre(0x00, 0x3C, 0x00, 0x40, 0x00, 0xBC, 0x00, 0x00));
  std::vector<uint8_t> shape = Read(**m, 4);
  int64_t dims[2];
  std::memcpy(dims, shape.data(), 16);
  EXPECT_EQ(dims[0], -1);
  EXPECT_EQ(dims[1], 3);
  EXPECT_THAT(Floats(Read(**m, 7)), ElementsAre(9, 8, 7, 6));
}

class OnnxFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  std::string Path(const std::string& name) const {
    return (dir_ / name).string();
  }
  void Write(const std::string& name, const std::string& bytes) const {
    std::ofstream(Path(name), std::ios::binary) << bytes;
  }
  fs::path dir_;
};

// New data for every tensor, written inline and with external data: the
// files reopen with the same graph, names, dtypes and the new bytes, and the
// typed fields are gone.
TEST_F(OnnxFileTest, WritesBackInlineAndWithExternalData) {
  Write("zoo.onnx", ZooModel().SerializeAsString());
  for (bool external : {false, true}) {
    SCOPED_TRACE(external ? "external" : "inline");
    auto m = OnnxModel::Open(Path("zoo.onnx"));
    ASSERT_TRUE(m.ok()) << m.status();
    const std::string out = Path(external ? "ext.onnx" : "in.onnx");
    auto w = OnnxModelWriter::Create(m->get(), out, external);
    ASSERT_TRUE(w.ok()) << w.status();
    std::vector<std::vector<uint8_t>> want;
    for (size_t i = 0; i < (*m)->tensors().size(); ++i) {
      std::vector<uint8_t> b = Read(**m, i);
      for (uint8_t& x : b) x ^= static_cast<uint8_t>(i + 1);
      want.push_back(b);
      ASSERT_TRUE(
          (*w)->Append(i, {reinterpret_cast<const char*>(b.data()), b.size()})
              .ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
    EXPECT_EQ(fs::exists(out + ".data"), external);
    auto back = OnnxModel::Open(out);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ((*back)->tensors().size(), want.size());
    EXPECT_EQ((*back)->uses_external_data(), external);
    // What an upload sends beside the model: its one data file, named as
    // the tensors name it.
    EXPECT_EQ((*back)->ExternalFiles(),
              external ? std::vector<std::string>{"ext.onnx.data"}
                       : std::vector<std::string>{});
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ((*back)->tensors()[i].name, (*m)->tensors()[i].name);
      EXPECT_EQ((*back)->tensors()[i].dtype, (*m)->tensors()[i].dtype);
      EXPECT_EQ(Read(**back, i), want[i]) << (*m)->tensors()[i].name;
      // Constant nodes and small tensors stay inline for runtimes.
      const OnnxTensor& t = (*m)->tensors()[i];
      EXPECT_EQ((*back)->tensors()[i].external,
                external && !t.constant_node &&
                    t.bytes() >= OnnxModelWriter::kExternalMinBytes)
          << t.name;
    }
    // The graph is untouched: same nodes, the string tensor kept.
    EXPECT_EQ((*back)->proto().graph().node_size(),
              ZooModel().graph().node_size());
    EXPECT_EQ((*back)->proto().graph().initializer(7).string_data(0), "cat");
    EXPECT_EQ((*back)->proto().graph().initializer(2).float_data_size(), 0);
  }
  // A model with external data is written with external data again.
  auto ext = OnnxModel::Open(Path("ext.onnx"));
  ASSERT_TRUE(ext.ok());
  EXPECT_TRUE(OnnxModelWriter::WantsExternal(**ext));
}

TEST_F(OnnxFileTest, ExportsTheDecodedContainerIntoTheGraph) {
  Write("zoo.onnx", ZooModel().SerializeAsString());
  auto m = OnnxModel::Open(Path("zoo.onnx"));
  ASSERT_TRUE(m.ok()) << m.status();
  std::string cdz;
  {
    auto w = CdzWriter::Create(NewStringFile(&cdz), {});
    ASSERT_TRUE(w.ok());
    for (size_t i = 0; i < (*m)->tensors().size(); ++i) {
      const OnnxTensor& t = (*m)->tensors()[i];
      std::vector<uint8_t> b = Read(**m, i);
      ASSERT_TRUE(
          (*w)->AddRaw(t.name, t.dtype,
                       std::vector<uint64_t>(t.shape.begin(), t.shape.end()), b)
              .ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
  }
  auto reader = CdzReader::Open(NewMemoryFile(cdz));
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_TRUE(ExportOnnx(**reader, **m, Path("out.onnx")).ok());
  auto back = OnnxModel::Open(Path("out.onnx"));
  auto orig = OnnxModel::Parse(ZooModel().SerializeAsString(), "zoo", "");
  ASSERT_TRUE(back.ok() && orig.ok());
  for (size_t i = 0; i < (*orig)->tensors().size(); ++i) {
    EXPECT_EQ(Read(**back, i), Read(**orig, i));
  }

  // A container of another model is refused by name.
  auto other = OnnxModel::Parse(ZooModel().SerializeAsString(), "zoo", "");
  ASSERT_TRUE(other.ok());
  (*other)->proto().mutable_graph()->mutable_initializer(0)->set_name("x.w");
  auto reindexed =
      OnnxModel::Parse((*other)->proto().SerializeAsString(), "other", "");
  ASSERT_TRUE(reindexed.ok());
  absl::Status st = ExportOnnx(**reader, **reindexed, Path("bad.onnx"));
  EXPECT_THAT(st.message(), HasSubstr("'x.w'"));
  EXPECT_FALSE(fs::exists(Path("bad.onnx")));
}

// A container made from an ONNX model keeps its graph: the container alone
// rebuilds the model, bit for bit in every tensor, with the original graph
// untouched by keeping it.
TEST_F(OnnxFileTest, TheContainerAloneRebuildsTheModel) {
  Write("zoo.onnx", ZooModel().SerializeAsString());
  auto m = OnnxModel::Open(Path("zoo.onnx"));
  ASSERT_TRUE(m.ok()) << m.status();
  const std::string before = (*m)->proto().SerializeAsString();
  auto graph = OnnxSkeletonValue(**m);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ((*m)->proto().SerializeAsString(), before);  // Restored.

  std::string cdz;
  {
    auto w = CdzWriter::Create(NewStringFile(&cdz), {{kOnnxModelKey, *graph}});
    ASSERT_TRUE(w.ok());
    for (size_t i = 0; i < (*m)->tensors().size(); ++i) {
      const OnnxTensor& t = (*m)->tensors()[i];
      ASSERT_TRUE(
          (*w)->AddRaw(t.name, t.dtype,
                       std::vector<uint64_t>(t.shape.begin(), t.shape.end()),
                       Read(**m, i))
              .ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
  }
  auto reader = CdzReader::Open(NewMemoryFile(cdz));
  ASSERT_TRUE(reader.ok()) << reader.status();

  // The skeleton lists the same tensors, without their data.
  auto skeleton = OnnxSkeletonOf(**reader, "zoo");
  ASSERT_TRUE(skeleton.ok()) << skeleton.status();
  ASSERT_EQ((*skeleton)->tensors().size(), (*m)->tensors().size());
  for (size_t i = 0; i < (*m)->tensors().size(); ++i) {
    EXPECT_EQ((*skeleton)->tensors()[i].name, (*m)->tensors()[i].name);
    EXPECT_EQ((*skeleton)->tensors()[i].shape, (*m)->tensors()[i].shape);
    EXPECT_EQ((*skeleton)->tensors()[i].uses, (*m)->tensors()[i].uses);
    EXPECT_TRUE((*skeleton)->tensors()[i].missing);
  }
  EXPECT_THAT((*skeleton)->Read(0).status().message(), HasSubstr("skeleton"));

  ASSERT_TRUE(DecompressModel(**reader, Path("rebuilt.onnx")).ok());
  auto back = OnnxModel::Open(Path("rebuilt.onnx"));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ((*back)->tensors().size(), (*m)->tensors().size());
  for (size_t i = 0; i < (*m)->tensors().size(); ++i) {
    EXPECT_FALSE((*back)->tensors()[i].missing);
    EXPECT_EQ(Read(**back, i), Read(**m, i)) << (*m)->tensors()[i].name;
  }
  EXPECT_EQ((*back)->proto().graph().node_size(),
            ZooModel().graph().node_size());
  // The string tensor, which the container does not hold, came along.
  EXPECT_EQ((*back)->proto().graph().initializer(7).string_data(0), "cat");

  // Other outputs still decode to safetensors; a container without a graph
  // says it cannot make a model.
  ASSERT_TRUE(DecompressModel(**reader, Path("dense.safetensors")).ok());
  EXPECT_TRUE(fs::exists(Path("dense.safetensors")));
  std::string plain;
  {
    auto w = CdzWriter::Create(NewStringFile(&plain), {});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(
        (*w)->AddRaw("w", DType::kF32, {1}, std::vector<uint8_t>(4)).ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }
  auto no_graph = CdzReader::Open(NewMemoryFile(plain));
  ASSERT_TRUE(no_graph.ok());
  absl::Status st = DecompressModel(**no_graph, Path("x.onnx"));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("not made from an ONNX model"));
}

// A damaged graph in the manifest is an error, never a crash.
TEST(OnnxSkeleton, DamagedValuesAreErrors) {
  for (const std::string& value :
       {std::string("not base64!"), std::string("AAAA"),
        std::string("//////////8AAAAAAAAA"),         // Claims 2^64 - 1 bytes.
        std::string("EAAAAAAAAAB4nAMAAAAAAQ==")}) {  // Claims 16, holds 0.
    std::string cdz;
    auto w = CdzWriter::Create(NewStringFile(&cdz), {{kOnnxModelKey, value}});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Finish().ok());
    auto reader = CdzReader::Open(NewMemoryFile(cdz));
    ASSERT_TRUE(reader.ok());
    auto skeleton = OnnxSkeletonOf(**reader, "m");
    EXPECT_EQ(skeleton.status().code(), absl::StatusCode::kInvalidArgument)
        << value;
    EXPECT_THAT(skeleton.status().message(), HasSubstr("damaged")) << value;
  }
}

// Broken models: an error naming the tensor, never a crash.
TEST_F(OnnxFileTest, BrokenModelsAreErrorsThatNameTheTensor) {
  struct Case {
    const char* what;
    void (*breaks)(onnx::ModelProto&);
    const char* message;
  };
  const Case cases[] = {
      {"lying length",
       [](onnx::ModelProto& m) {
         m.mutable_graph()->mutable_initializer(0)->mutable_raw_data()->resize(
             5);
       },
       "'fc.w' has 5 bytes of data"},
      {"absurd shape",
       [](onnx::ModelProto& m) {
         auto* t = m.mutable_graph()->mutable_initializer(0);
         t->set_dims(0, int64_t{1} << 40);
         t->set_dims(1, int64_t{1} << 40);
       },
       "'fc.w' has an impossible shape"},
      {"negative dim",
       [](onnx::ModelProto& m) {
         m.mutable_graph()->mutable_initializer(1)->set_dims(0, -3);
       },
       "'fc.b' has an impossible shape"},
      {"undefined dtype",
       [](onnx::ModelProto& m) {
         m.mutable_graph()->mutable_initializer(2)->set_data_type(
             onnx::TensorProto::UNDEFINED);
       },
       "'conv.w' has no element type"},
      {"an initializer defined twice",
       [](onnx::ModelProto& m) {
         *m.mutable_graph()->add_initializer() = m.graph().initializer(0);
       },
       "'fc.w' is defined twice in one graph"},
      {"external data condense would not carry over",
       [](onnx::ModelProto& m) {
         auto* t = m.mutable_graph()->add_initializer();
         t->set_name("u32");
         t->set_data_type(onnx::TensorProto::UINT32);
         t->add_dims(2);
         t->set_data_location(onnx::TensorProto::EXTERNAL);
         auto* kv = t->add_external_data();
         kv->set_key("location");
         kv->set_value("short.bin");
       },
       "keeps initializer 'u32' in external data"},
      {"too few typed values",
       [](onnx::ModelProto& m) {
         m.mutable_graph()
             ->mutable_initializer(2)
             ->mutable_float_data()
             ->RemoveLast();
       },
       "'conv.w' has 3 typed values"},
      {"external outside the directory",
       [](onnx::ModelProto& m) {
         MoveToExternal(m, {{"location", "../../etc/passwd"}});
       },
       "outside the model's directory"},
      {"external past the end",
       [](onnx::ModelProto& m) {
         MoveToExternal(m, {{"location", "short.bin"}, {"offset", "8"}});
       },
       "'fc.w' is stored in short.bin at 8 (24 bytes), past its end"},
      {"external offset not a number",
       [](onnx::ModelProto& m) {
         MoveToExternal(m, {{"location", "short.bin"}, {"offset", "-1"}});
       },
       "has external offset '-1'"},
      {"no graph", [](onnx::ModelProto& m) { m.clear_graph(); }, "no graph"},
  };
  Write("short.bin", std::string(20, 'x'));
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    onnx::ModelProto m = ZooModel();
    c.breaks(m);
    Write("broken.onnx", m.SerializeAsString());
    auto opened = OnnxModel::Open(Path("broken.onnx"));
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(opened.status().message(), HasSubstr(c.message));
  }
  // Every truncation of a valid model: an error or a smaller valid model,
  // whose tensors all read.
  const std::string whole = ZooModel().SerializeAsString();
  for (size_t n = 0; n < whole.size(); ++n) {
    auto m = OnnxModel::Parse(whole.substr(0, n), "cut", "");
    if (!m.ok()) continue;
    for (size_t i = 0; i < (*m)->tensors().size(); ++i) {
      EXPECT_TRUE((*m)->Read(i).ok());
    }
  }
  EXPECT_FALSE(OnnxModel::Open(Path("missing.onnx")).ok());
}

TEST_F(OnnxFileTest, ExternalDataBehindASymlinkOutsideIsRefused) {
  const fs::path outside = fs::path(Path("")).parent_path() / "secret.bin";
  { std::ofstream(outside) << std::string(64, 's'); }
  fs::create_directories(Path("model"));
  fs::create_symlink(outside, Path("model/w.bin"));
  onnx::ModelProto m = ZooModel();
  MoveToExternal(m, {{"location", "w.bin"}});
  Write("model/zoo.onnx", m.SerializeAsString());
  auto opened = OnnxModel::Open(Path("model/zoo.onnx"));
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(),
              HasSubstr("'fc.w' has external data at 'w.bin', which leads "
                        "outside the model's directory"));
  fs::remove(outside);
}

// Tensors of types condense leaves alone (here one newer than its schema)
// are kept as they are; subgraph tensors that reuse a name are numbered.
TEST(OnnxModelTest, LeavesUnknownTypesAloneAndNamesEveryTensorOnce) {
  onnx::ModelProto m = ZooModel();
  auto* g = m.mutable_graph();
  auto* f8 = g->add_initializer();
  f8->set_name("f8");
  f8->set_data_type(999);
  f8->add_dims(1);
  f8->set_raw_data("x");
  for (int i = 0; i < 2; ++i) {
    onnx::NodeProto* branch = g->add_node();
    branch->set_op_type("If");
    branch->set_name("if0");
    auto* a = branch->add_attribute();
    a->set_name("then_branch");
    auto* sub = a->mutable_g();
    SetRawFloats(sub->add_initializer(), "fc.w", {1}, {1});
  }
  auto opened = OnnxModel::Parse(m.SerializeAsString(), "zoo", "");
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::vector<std::string> names;
  for (const OnnxTensor& t : (*opened)->tensors()) names.push_back(t.name);
  EXPECT_THAT(names, ElementsAre("fc.w", "fc.b", "conv.w", "emb", "shape",
                                 "lstm.W", "lstm.R", "k", "if0/fc.w",
                                 "if0/fc.w#1", "if0/fc.w#2"));
}

}  // namespace
}  // namespace condense::codec
