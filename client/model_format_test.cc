// Format inference from files written to a temporary directory.
#include "client/model_format.h"

#include <filesystem>
#include <fstream>

#include "codec/file_io.h"
#include "codec/safetensors.h"
#include "gtest/gtest.h"

namespace condense::client {
namespace {

namespace fs = std::filesystem;

class ModelFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("condense_model_format_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  std::string WriteSafetensors(const std::string& name) {
    std::string path = (dir_ / name).string();
    auto file = codec::NewAtomicFile(path);
    EXPECT_TRUE(file.ok());
    auto writer = codec::SafetensorsWriter::Create(
        *std::move(file), {{"w", codec::DType::kF32, {2}}}, {});
    EXPECT_TRUE(writer.ok()) << writer.status();
    const float values[2] = {1.0f, 2.0f};
    EXPECT_TRUE((*writer)
                    ->Append("w", absl::string_view(
                                      reinterpret_cast<const char*>(values),
                                      sizeof(values)))
                    .ok());
    EXPECT_TRUE((*writer)->Finish().ok());
    return path;
  }

  fs::path dir_;
};

TEST_F(ModelFormatTest, ZipMagicIsTorchScript) {
  auto format = InferModelFormat(Write("model.pt", "PK\x03\x04rest"));
  ASSERT_TRUE(format.ok()) << format.status();
  EXPECT_EQ(*format, v1::Model::TORCHSCRIPT);
}

TEST_F(ModelFormatTest, SafetensorsByExtension) {
  auto format = InferModelFormat(Write("weights.SafeTensors", "anything"));
  ASSERT_TRUE(format.ok()) << format.status();
  EXPECT_EQ(*format, v1::Model::SAFETENSORS);
}

TEST_F(ModelFormatTest, SafetensorsByHeader) {
  auto format = InferModelFormat(WriteSafetensors("weights.bin"));
  ASSERT_TRUE(format.ok()) << format.status();
  EXPECT_EQ(*format, v1::Model::SAFETENSORS);
}

TEST_F(ModelFormatTest, OnnxByItsFirstField) {
  // ir_version = 8, as torch.onnx.export and onnx.save_model write first.
  auto format = InferModelFormat(
      Write("model.bin", std::string("\x08\x08\x12\x07pytorch", 11)));
  ASSERT_TRUE(format.ok()) << format.status();
  EXPECT_EQ(*format, v1::Model::ONNX);
}

TEST_F(ModelFormatTest, UnknownSaysToPassFormat) {
  auto format = InferModelFormat(Write("model.bin", "not a model at all"));
  EXPECT_EQ(format.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(format.status().message().find("--format"), std::string::npos);
}

TEST_F(ModelFormatTest, MissingFile) {
  auto format = InferModelFormat((dir_ / "absent.pt").string());
  EXPECT_EQ(format.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ModelFormatTest, OneFileIsTheBlob) {
  auto files = ResolveModelFiles(WriteSafetensors("w.safetensors"),
                                 v1::Model::FORMAT_UNSPECIFIED);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->format, v1::Model::SAFETENSORS);
  EXPECT_FALSE(files->several);
  EXPECT_EQ(files->paths,
            std::vector<std::string>{(dir_ / "w.safetensors").string()});
}

TEST_F(ModelFormatTest, ADirectoryIsAShardedCheckpoint) {
  // The index and the shard it maps to are sent; the directory's other
  // files (a shard the index does not name, config.json) are not.
  WriteSafetensors("b.safetensors");
  WriteSafetensors("a.safetensors");
  Write("model.safetensors.index.json",
        R"({"metadata": {}, "weight_map": {"w": "a.safetensors"}})");
  Write("config.json", "{}");
  for (const std::string& path :
       {dir_.string(), (dir_ / "model.safetensors.index.json").string()}) {
    auto files = ResolveModelFiles(path, v1::Model::FORMAT_UNSPECIFIED);
    ASSERT_TRUE(files.ok()) << files.status();
    EXPECT_EQ(files->format, v1::Model::SAFETENSORS_SHARDED);
    EXPECT_TRUE(files->several);
    ASSERT_EQ(files->paths.size(), 2u);
    EXPECT_EQ(fs::path(files->paths[0]).filename(),
              "model.safetensors.index.json");
    EXPECT_EQ(fs::path(files->paths[1]).filename(), "a.safetensors");
  }
}

TEST_F(ModelFormatTest, ABrokenCheckpointIsRefusedBeforeUploading) {
  WriteSafetensors("a.safetensors");
  Write("model.safetensors.index.json",
        R"({"weight_map": {"w": "a.safetensors", "v": "gone.safetensors"}})");
  auto files = ResolveModelFiles(dir_.string(), v1::Model::FORMAT_UNSPECIFIED);
  EXPECT_EQ(files.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(files.status().message().find("gone.safetensors"),
            std::string::npos)
      << files.status();
  auto onnx = ResolveModelFiles(dir_.string(), v1::Model::ONNX);
  EXPECT_EQ(onnx.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(onnx.status().message().find("is a directory"), std::string::npos)
      << onnx.status();
}

TEST(ParseModelFormat, Names) {
  EXPECT_EQ(*ParseModelFormat("TorchScript"), v1::Model::TORCHSCRIPT);
  EXPECT_EQ(*ParseModelFormat("safetensors"), v1::Model::SAFETENSORS);
  EXPECT_EQ(*ParseModelFormat("ONNX"), v1::Model::ONNX);
  EXPECT_EQ(*ParseModelFormat("safetensors-sharded"),
            v1::Model::SAFETENSORS_SHARDED);
  EXPECT_FALSE(ParseModelFormat("tflite").ok());
}

}  // namespace
}  // namespace condense::client
