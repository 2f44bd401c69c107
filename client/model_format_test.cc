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

TEST(ParseModelFormat, Names) {
  EXPECT_EQ(*ParseModelFormat("TorchScript"), v1::Model::TORCHSCRIPT);
  EXPECT_EQ(*ParseModelFormat("safetensors"), v1::Model::SAFETENSORS);
  EXPECT_EQ(*ParseModelFormat("ONNX"), v1::Model::ONNX);
  EXPECT_FALSE(ParseModelFormat("tflite").ok());
}

}  // namespace
}  // namespace condense::client
