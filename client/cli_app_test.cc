// The command line end to end for what needs no server: parsing, help,
// exit codes, and the local commands (inspect, decompress).
#include "client/cli_app.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "codec/cdz_test_util.h"
#include "codec/safetensors.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace condense::client {
namespace {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunCommand(std::vector<std::string> args) {
  args.insert(args.begin(), "condense");
  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out;
  std::ostringstream err;
  CliIo io;
  io.out = &out;
  io.err = &err;
  const int code = RunCli(static_cast<int>(argv.size()), argv.data(), io);
  return {code, out.str(), err.str()};
}

class CliAppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("condense_cli_app_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    cdz_ = (dir_ / "model.cdz").string();
    std::ofstream(cdz_, std::ios::binary) << codec::testing::WriteModel(
        codec::testing::SampleModel(7), {{"producer", "test"}});
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::string cdz_;
};

TEST_F(CliAppTest, HelpListsCommandsAndExitCodes) {
  Result r = RunCommand({"--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* part : {"upload", "submit", "watch", "download", "inspect",
                           "Exit codes", "5  the server could not be"}) {
    EXPECT_NE(r.out.find(part), std::string::npos) << part;
  }
}

TEST_F(CliAppTest, UsageErrorsExitTwo) {
  EXPECT_EQ(RunCommand({}).code, 2);
  EXPECT_EQ(RunCommand({"frobnicate"}).code, 2);
  EXPECT_EQ(RunCommand({"watch"}).code, 2);
  EXPECT_EQ(RunCommand({"--output", "yaml", "list"}).code, 2);
  EXPECT_EQ(RunCommand({"list", "widgets"}).code, 2);
  // Checked before any connection is made.
  Result r = RunCommand({"list", "--state", "bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("condense: unknown --state 'bogus'", 0), 0u) << r.err;
  EXPECT_EQ(RunCommand({"submit", "--model", "m", "--label", "novalue"}).code,
            2);
}

TEST_F(CliAppTest, InspectPrintsATableWithShapes) {
  Result r = RunCommand({"inspect", cdz_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("producer: test"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("shape"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total: "), std::string::npos) << r.out;
}

TEST_F(CliAppTest, InspectJsonAfterTheCommand) {
  Result r = RunCommand({"inspect", cdz_, "--output", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["manifest"]["producer"], "test");
  ASSERT_FALSE(j["tensors"].empty());
  EXPECT_TRUE(j["tensors"][0].contains("shape"));
  EXPECT_GT(j["ratio"].get<double>(), 0);
}

TEST_F(CliAppTest, InspectOfAMissingFileExitsTwo) {
  Result r = RunCommand({"inspect", (dir_ / "absent.cdz").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("condense: ", 0), 0u) << r.err;
}

TEST_F(CliAppTest, InspectOfAnythingElseFails) {
  const std::string junk = (dir_ / "junk.cdz").string();
  std::ofstream(junk) << "not a cdz file";
  Result r = RunCommand({"inspect", junk});
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err.rfind("condense: ", 0), 0u) << r.err;
}

TEST_F(CliAppTest, DecompressWritesSafetensors) {
  const std::string out = (dir_ / "model.safetensors").string();
  Result r = RunCommand({"decompress", cdz_, "-o", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, out + "\n");
  auto reader = codec::SafetensorsReader::OpenPath(out);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->entries().size(), codec::testing::SampleModel(7).size());
}

}  // namespace
}  // namespace condense::client
