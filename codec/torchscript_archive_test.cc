#include "codec/torchscript_archive.h"

#include <zlib.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::codec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ReadAt Over(const std::string& bytes) {
  return
      [&bytes](uint64_t offset, uint64_t size) -> absl::StatusOr<std::string> {
        if (offset > bytes.size()) return std::string();
        return bytes.substr(offset, size);
      };
}

absl::StatusOr<std::set<TorchScriptCall>> Calls(const std::string& bytes) {
  return TorchScriptCalls(bytes.size(), Over(bytes));
}

std::vector<std::string> Spellings(const std::set<TorchScriptCall>& calls) {
  std::vector<std::string> out;
  for (const auto& c : calls) out.push_back(c.spelling);
  return out;
}

void Put(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>(v >> (8 * i)));
}

// A zip of stored entries, as torch.jit.save could write it; `zip64` writes
// the sizes and offsets in zip64 records, as archives over 4 GiB need.
std::string Zip(const std::vector<std::pair<std::string, std::string>>& files,
                bool zip64 = false) {
  std::string out, cd;
  for (const auto& [name, data] : files) {
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(data.data()),
              static_cast<uInt>(data.size())));
    const uint64_t offset = out.size();
    Put(out, 0x04034b50, 4);
    Put(out, 45, 2);
    Put(out, 0, 2);  // Flags.
    Put(out, 0, 2);  // Stored.
    Put(out, 0, 4);  // Time, date.
    Put(out, crc, 4);
    Put(out, data.size(), 4);
    Put(out, data.size(), 4);
    Put(out, name.size(), 2);
    Put(out, 0, 2);
    out += name + data;
    const uint64_t big = 0xFFFFFFFF;
    Put(cd, 0x02014b50, 4);
    Put(cd, 45, 2);
    Put(cd, 45, 2);
    Put(cd, 0, 2);
    Put(cd, 0, 2);
    Put(cd, 0, 4);
    Put(cd, crc, 4);
    Put(cd, zip64 ? big : data.size(), 4);
    Put(cd, zip64 ? big : data.size(), 4);
    Put(cd, name.size(), 2);
    Put(cd, zip64 ? 28 : 0, 2);
    Put(cd, 0, 2);  // Comment.
    Put(cd, 0, 2);  // Disk.
    Put(cd, 0, 2);
    Put(cd, 0, 4);
    Put(cd, zip64 ? big : offset, 4);
    cd += name;
    if (zip64) {
      Put(cd, 1, 2);
      Put(cd, 24, 2);
      Put(cd, data.size(), 8);
      Put(cd, data.size(), 8);
      Put(cd, offset, 8);
    }
  }
  const uint64_t cd_offset = out.size();
  out += cd;
  if (zip64) {
    const uint64_t end64 = out.size();
    Put(out, 0x06064b50, 4);
    Put(out, 44, 8);
    Put(out, 45, 2);
    Put(out, 45, 2);
    Put(out, 0, 4);
    Put(out, 0, 4);
    Put(out, files.size(), 8);
    Put(out, files.size(), 8);
    Put(out, cd.size(), 8);
    Put(out, cd_offset, 8);
    Put(out, 0x07064b50, 4);
    Put(out, 0, 4);
    Put(out, end64, 8);
    Put(out, 1, 4);
  }
  Put(out, 0x06054b50, 4);
  Put(out, 0, 4);
  Put(out, zip64 ? 0xFFFF : files.size(), 2);
  Put(out, zip64 ? 0xFFFF : files.size(), 2);
  Put(out, zip64 ? 0xFFFFFFFF : cd.size(), 4);
  Put(out, zip64 ? 0xFFFFFFFF : cd_offset, 4);
  Put(out, 0, 2);
  return out;
}

const std::string kTiny =
    std::string(CONDENSE_SOURCE_DIR) + "/codec/testdata/tiny_script.pt";
const std::string kUnknownOp =
    std::string(CONDENSE_SOURCE_DIR) + "/worker/engine/testdata/unknown_op.pt";

// torch.jit.save's own archive (deflated code): every call of its two code
// files, and nothing from type annotations or method calls.
TEST(TorchScriptArchive, ListsTheCallsOfASavedModel) {
  auto calls = Calls(ReadFile(kTiny));
  ASSERT_TRUE(calls.ok()) << calls.status();
  EXPECT_THAT(
      Spellings(*calls),
      ElementsAre("ops.prim.RaiseException", "ops.prim.device", "ops.prim.type",
                  "torch.eq", "torch.flatten", "torch.linear", "torch.relu"));
  for (const auto& c : *calls) {
    if (c.spelling == "torch.linear") {
      EXPECT_THAT(c.ops, ElementsAre("aten::linear", "prim::linear"));
      EXPECT_EQ(c.file,
                "tiny_script/code/__torch__/torch/nn/modules/linear.py");
    }
    if (c.spelling == "ops.prim.device") {
      EXPECT_THAT(c.ops, ElementsAre("prim::device"));
    }
  }
}

// An archive of stored entries (worker/engine/testdata/unknown_op.pt) that
// calls an op no LibTorch has.
TEST(TorchScriptArchive, FindsTheCallNoKnownOpAnswers) {
  auto calls = Calls(ReadFile(kUnknownOp));
  ASSERT_TRUE(calls.ok()) << calls.status();
  const std::vector<std::string_view> known = {"aten::linear", "aten::relu"};
  const auto unknown = UnknownCalls(*calls, known);
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].spelling, "torch.zelu");
  EXPECT_EQ(unknown[0].ops.front(), "aten::zelu");
}

TEST(TorchScriptArchive, ScannerSkipsStringsCommentsAndNonCalls) {
  std::set<TorchScriptCall> calls;
  ScanTorchScriptCode(
      "x = torch.add(a, 1.5e3)  # torch.comment(x)\n"
      "y = \"torch.in_string(\\\"\" + 'torch.single(' + "
      "\"\"\"torch.triple(\"\"\"\n"
      "m : __torch__.torch.nn.Linear = __torch__.torch.nn.Linear(3)\n"
      "z = self.torch.attr(1) + ops.quantized.linear (x) + torch.Tensor\n"
      "w = torch.nn.functional.relu(x) + x.torch(1) + torch.mul  (x, 2)\n",
      "f.py", calls);
  EXPECT_THAT(Spellings(calls),
              ElementsAre("ops.quantized.linear", "torch.add", "torch.mul"));
}

TEST(TorchScriptArchive, ReadsZip64Archives) {
  const std::string code = "def f(x):\n  return torch.sigmoid(x)\n";
  for (bool zip64 : {false, true}) {
    const std::string zip =
        Zip({{"m/data.pkl", "pickle"}, {"m/code/__torch__.py", code}}, zip64);
    auto calls = Calls(zip);
    ASSERT_TRUE(calls.ok()) << zip64 << " " << calls.status();
    EXPECT_THAT(Spellings(*calls), ElementsAre("torch.sigmoid")) << zip64;
  }
}

TEST(TorchScriptArchive, RefusesArchivesWithoutCode) {
  // torch.save (not torch.jit.save) writes a zip with data and no code.
  auto calls = Calls(Zip({{"m/data.pkl", "pickle"}, {"m/version", "3\n"}}));
  ASSERT_FALSE(calls.ok());
  EXPECT_EQ(calls.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(calls.status().message(), HasSubstr("torch.jit.save"));
  auto not_zip = Calls(std::string(100, 'x'));
  ASSERT_FALSE(not_zip.ok());
  EXPECT_THAT(not_zip.status().message(), HasSubstr("not a zip archive"));
}

// Every truncation and every single-byte change of a real archive gives a
// result or a clear error, never a crash (run under ASan in CI).
TEST(TorchScriptArchive, DamagedArchivesFailCleanly) {
  const std::string tiny = ReadFile(kTiny);
  ASSERT_GT(tiny.size(), 1000u);
  for (size_t n = 0; n < tiny.size(); n += 7) {
    auto calls = Calls(tiny.substr(0, n));
    EXPECT_FALSE(calls.ok()) << n;
  }
  int refused = 0;
  for (size_t at = 0; at < tiny.size(); at += 3) {
    std::string bad = tiny;
    bad[at] = static_cast<char>(bad[at] ^ 0x5A);
    auto calls = Calls(bad);
    if (!calls.ok()) {
      ++refused;
      EXPECT_EQ(calls.status().code(), absl::StatusCode::kInvalidArgument)
          << at << ": " << calls.status();
    }
  }
  // Damage to code, headers or the directory is caught (CRC, signatures);
  // damage to tensor data is not this reader's to see.
  EXPECT_GT(refused, 100);
}

TEST(TorchScriptArchive, LyingSizesAreRefusedBeforeAllocating) {
  std::string zip = Zip({{"m/code/__torch__.py", "torch.relu(x)"}});
  // The central directory's uncompressed size: 4 GiB - 1.
  const size_t cd = zip.find("PK\x01\x02");
  ASSERT_NE(cd, std::string::npos);
  for (int i = 0; i < 4; ++i) zip[cd + 24 + i] = '\xFF';
  zip[cd + 24] = '\xFE';
  auto calls = Calls(zip);
  ASSERT_FALSE(calls.ok());
  EXPECT_THAT(calls.status().message(), HasSubstr("larger than 64 MiB"));
  // A compressed size past the end of the file.
  std::string past = Zip({{"m/code/__torch__.py", "torch.relu(x)"}});
  past[past.find("PK\x01\x02") + 20] = '\x7F';
  auto past_calls = Calls(past);
  ASSERT_FALSE(past_calls.ok());
  EXPECT_THAT(past_calls.status().message(), HasSubstr("damaged"));
}

}  // namespace
}  // namespace condense::codec
