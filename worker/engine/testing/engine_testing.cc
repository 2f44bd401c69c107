#include "worker/engine/testing/engine_testing.h"

#include <filesystem>

#include "codec/file_io.h"
#include "codec/safetensors.h"
#include "gtest/gtest.h"

namespace condense::engine::testing {

std::string TempDir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) /
      (std::string(info->test_suite_name()) + "." + info->name()) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

torch::jit::Module MakeMlp(int64_t in, int64_t hidden, int64_t classes,
                           uint64_t seed) {
  torch::manual_seed(seed);
  torch::jit::Module m("Mlp");
  const double b1 = 1.0 / std::sqrt(static_cast<double>(in));
  const double b2 = 1.0 / std::sqrt(static_cast<double>(hidden));
  auto param = [](std::vector<int64_t> shape, double bound) {
    return (torch::rand(shape) * 2 - 1) * bound;
  };
  torch::jit::Module fc1("Linear");
  fc1.register_parameter("weight", param({hidden, in}, b1), false);
  fc1.register_parameter("bias", param({hidden}, b1), false);
  fc1.define(R"(
    def forward(self, x):
      return torch.linear(x, self.weight, self.bias)
  )");
  torch::jit::Module fc2("Linear");
  fc2.register_parameter("weight", param({classes, hidden}, b2), false);
  fc2.register_parameter("bias", param({classes}, b2), false);
  fc2.define(R"(
    def forward(self, x):
      return torch.linear(x, self.weight, self.bias)
  )");
  m.register_module("fc1", fc1);
  m.register_module("fc2", fc2);
  m.define(R"(
    def forward(self, x):
      return self.fc2.forward(torch.relu(self.fc1.forward(x)))
  )");
  return m;
}

std::string SaveModule(torch::jit::Module& module, const std::string& path) {
  module.save(path);
  return path;
}

void WriteClassificationData(const std::string& path, int64_t n,
                             int64_t features, int64_t classes, uint64_t seed,
                             bool with_targets) {
  // One teacher for every file of this shape, so splits agree.
  auto teacher_gen = at::detail::createCPUGenerator(features * 1000 + classes);
  torch::Tensor teacher = torch::randn({features, classes}, teacher_gen);
  auto gen = at::detail::createCPUGenerator(seed);
  torch::Tensor x = torch::randn({n, features}, gen).contiguous();
  torch::Tensor y = x.matmul(teacher).argmax(1).contiguous();
  std::vector<codec::SafetensorsWriter::Tensor> decl = {
      {"inputs",
       codec::DType::kF32,
       {static_cast<uint64_t>(n), static_cast<uint64_t>(features)}}};
  if (with_targets) {
    decl.push_back({"targets", codec::DType::kI64, {static_cast<uint64_t>(n)}});
  }
  auto file = codec::NewAtomicFile(path);
  ASSERT_TRUE(file.ok());
  auto writer = codec::SafetensorsWriter::Create(*std::move(file), decl, {});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)
                  ->Append("inputs", absl::string_view(
                                         static_cast<const char*>(x.data_ptr()),
                                         x.numel() * 4))
                  .ok());
  if (with_targets) {
    ASSERT_TRUE(
        (*writer)
            ->Append("targets",
                     absl::string_view(static_cast<const char*>(y.data_ptr()),
                                       y.numel() * 8))
            .ok());
  }
  ASSERT_TRUE((*writer)->Finish().ok());
}

}  // namespace condense::engine::testing
