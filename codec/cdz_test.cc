#include <cstdio>
#include <cstring>
#include <filesystem>

#include "codec/byte_io.h"
#include "codec/cdz_export.h"
#include "codec/cdz_format.h"
#include "codec/cdz_reader.h"
#include "codec/cdz_test_util.h"
#include "codec/cdz_writer.h"
#include "codec/crc32c.h"
#include "codec/safetensors.h"
#include "gtest/gtest.h"

namespace condense::codec {
namespace {

using testing::ModelTensor;
using testing::OpenBytes;
using testing::SampleModel;
using testing::WriteModel;

Manifest TestManifest() {
  return {{"source_sha256", std::string(64, 'a')},
          {"spec", R"({"preset":"deep-compression"})"},
          {"producer", "condense test"}};
}

void ExpectDecodesTo(const CdzReader& reader,
                     const std::vector<ModelTensor>& model) {
  ASSERT_EQ(reader.tensors().size(), model.size());
  DecodedTensor out;
  for (size_t i = 0; i < model.size(); ++i) {
    const ModelTensor& m = model[i];
    SCOPED_TRACE(m.name);
    ASSERT_TRUE(reader.Decode(i, &out).ok());
    EXPECT_EQ(out.info.name, m.name);
    EXPECT_EQ(out.info.shape, m.shape);
    EXPECT_EQ(out.info.dtype, m.dtype);
    if (m.compressed || m.dtype == DType::kF32) {
      ASSERT_EQ(out.dtype, DType::kF32);
      ASSERT_EQ(out.values.size(), m.values.size());
      EXPECT_TRUE(m.values.empty() ||
                  std::memcmp(out.values.data(), m.values.data(),
                              m.values.size() * 4) == 0);
    } else if (m.dtype == DType::kF16) {
      ASSERT_EQ(out.dtype, DType::kF32);
      EXPECT_EQ(out.values, (std::vector<float>{1.0f, -2.0f, 0.5f, 65504.0f}));
    } else {
      EXPECT_EQ(out.dtype, m.dtype);
      EXPECT_EQ(out.bytes, m.raw);
    }
  }
}

TEST(Cdz, RoundTripsEveryKindOfTensorBitExact) {
  auto model = SampleModel(1);
  ModelSize written;
  std::string file = WriteModel(model, TestManifest(), &written);
  ASSERT_FALSE(file.empty());
  auto reader = OpenBytes(file);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->manifest(), TestManifest());
  EXPECT_EQ((*reader)->major_version(), cdz::kMajorVersion);
  ExpectDecodesTo(**reader, model);
  EXPECT_EQ((*reader)->Find("classifier.fc1.bias"), 3u);
  EXPECT_FALSE((*reader)->Find("nope").has_value());
  DecodedTensor t;
  EXPECT_EQ((*reader)->Decode(99, &t).code(), absl::StatusCode::kOutOfRange);
}

TEST(Cdz, SizeAccountingAddsUpToTheFile) {
  auto model = SampleModel(2);
  ModelSize written;
  std::string file = WriteModel(model, TestManifest(), &written);
  auto reader = OpenBytes(file);
  ASSERT_TRUE(reader.ok());
  auto read = (*reader)->Sizes();
  ASSERT_TRUE(read.ok()) << read.status();
  for (const ModelSize* m : {&written, &*read}) {
    EXPECT_EQ(m->file_bytes, file.size());
    uint64_t sum = m->container_bytes;
    for (const auto& t : m->tensors) {
      EXPECT_EQ(t.codebook_bytes + t.table_bytes + t.position_bytes +
                    t.index_bytes + t.raw_bytes + t.overhead_bytes,
                t.total_bytes)
          << t.name;
      sum += t.total_bytes;
    }
    EXPECT_EQ(sum, file.size());
  }
  ASSERT_EQ(written.tensors.size(), read->tensors.size());
  for (size_t i = 0; i < written.tensors.size(); ++i) {
    // Only the writer knows what the encodings it did not pick would cost.
    TensorSize w = written.tensors[i];
    w.alternatives = {};
    EXPECT_EQ(ToJson(w), ToJson(read->tensors[i]));
  }
  EXPECT_EQ(written.container_bytes, read->container_bytes);
  const auto& fc = read->tensors[1];
  EXPECT_EQ(fc.original_bytes, 300u * 784 * 4);
  EXPECT_NEAR(static_cast<double>(fc.nonzeros) / fc.numel, 0.08, 0.001);
  EXPECT_GT(fc.Ratio(), 20.0);
  EXPECT_LT(fc.BitsPerNonzero(), 12.0);
  EXPECT_NEAR(read->Ratio(),
              static_cast<double>(read->OriginalBytes()) / file.size(), 1e-12);
  EXPECT_NE(FormatSizeTable(*read).find("classifier.fc1.weight"),
            std::string::npos);
}

TEST(Cdz, WriterRejectsBadTensorsAndKeepsGoing) {
  std::string out;
  auto w = CdzWriter::Create(NewStringFile(&out), {});
  ASSERT_TRUE(w.ok());
  std::vector<float> v = {0.0f, 1.0f};
  const auto bytes =
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), 8);
  EXPECT_EQ((*w)->AddRaw("", DType::kF32, {2}, bytes).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*w)->AddRaw("a", DType::kF32, {3}, bytes).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      (*w)->AddRaw("a", DType::kF32, {1, 1, 1, 1, 1, 1, 1, 1, 2}, bytes).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*w)->AddRaw("a", DType::kF32,
                         {uint64_t{1} << 32, uint64_t{1} << 32}, bytes)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*w)->AddQuantized("q", DType::kI64, {2}, v, v).code(),
            absl::StatusCode::kInvalidArgument);
  auto s =
      (*w)->AddQuantized("q", DType::kF32, {2}, v, std::vector<float>{2.0f});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'q'"), std::string::npos) << s;
  ASSERT_TRUE((*w)->AddRaw("a", DType::kF32, {2}, bytes).ok());
  EXPECT_EQ((*w)->AddRaw("a", DType::kF32, {2}, bytes).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_FALSE((*w)->AddRaw("b", DType::kF32, {2}, bytes).ok());
  auto r = OpenBytes(out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->tensors().size(), 1u);
}

TEST(Cdz, AtomicFileAppearsOnlyWhenFinished) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("cdz_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "model.cdz").string();
  {
    auto file = NewAtomicFile(path);
    ASSERT_TRUE(file.ok());
    auto w = CdzWriter::Create(*std::move(file), TestManifest());
    ASSERT_TRUE(w.ok());
    // Abandoned before Finish: nothing may appear.
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  auto model = SampleModel(3);
  {
    auto file = NewAtomicFile(path);
    ASSERT_TRUE(file.ok());
    auto w = CdzWriter::Create(*std::move(file), TestManifest());
    ASSERT_TRUE(w.ok());
    for (const auto& t : model) {
      if (t.compressed) {
        ASSERT_TRUE((*w)->AddQuantized(t.name, t.dtype, t.shape, t.values,
                                       t.codebook, {.gap_bits = t.gap_bits})
                        .ok());
      } else if (t.dtype == DType::kF32) {
        ASSERT_TRUE(
            (*w)->AddRaw(t.name, t.dtype, t.shape,
                         {reinterpret_cast<const uint8_t*>(t.values.data()),
                          t.values.size() * 4})
                .ok());
      } else {
        ASSERT_TRUE((*w)->AddRaw(t.name, t.dtype, t.shape, t.raw).ok());
      }
    }
    ASSERT_TRUE((*w)->Finish().ok());
  }
  auto reader = CdzReader::OpenPath(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ExpectDecodesTo(**reader, model);

  // Export to safetensors and read it back with the independent reader.
  const std::string st_path = (dir / "model.safetensors").string();
  auto out = NewAtomicFile(st_path);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(ExportSafetensors(**reader, *std::move(out)).ok());
  auto st = SafetensorsReader::OpenPath(st_path);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ((*st)->metadata().at("producer"), "condense test");
  ASSERT_EQ((*st)->entries().size(), model.size());
  for (const auto& e : (*st)->entries()) {
    const auto& m = *std::find_if(model.begin(), model.end(),
                                  [&](auto& t) { return t.name == e.name; });
    EXPECT_EQ(e.shape, m.shape);
    if (m.dtype == DType::kI64) {
      std::vector<uint8_t> raw;
      ASSERT_TRUE((*st)->ReadBytes(e, &raw).ok());
      EXPECT_EQ(raw, m.raw);
      continue;
    }
    // Every tensor comes back in the dtype the container records, rounded
    // to nearest even where that is narrower than the decoded values.
    EXPECT_EQ(e.dtype, m.dtype);
    if (m.dtype == DType::kF16 && !m.compressed) continue;
    std::vector<float> vals;
    ASSERT_TRUE((*st)->ReadFloat32(e, &vals).ok());
    std::vector<float> want = m.values;
    std::vector<uint8_t> narrow(want.size() * DTypeSize(m.dtype));
    ASSERT_TRUE(
        ConvertFromFloat32(m.dtype, want.data(), want.size(), narrow.data()));
    ASSERT_TRUE(
        ConvertToFloat32(m.dtype, narrow.data(), want.size(), want.data()));
    EXPECT_EQ(vals, want) << e.name;
  }
  std::filesystem::remove_all(dir);
}

// Rewrites the END section to point at `index_offset`.
void SetIndexOffset(std::string* file, uint64_t index_offset) {
  const uint64_t end = file->size() - cdz::kEndSectionSize;
  StoreLE64(reinterpret_cast<uint8_t*>(file->data()) + end + 16, index_offset);
  testing::FixSectionCrc(file, end);
}

// Inserts a section just before the index.
std::string InsertSection(const std::string& file, uint32_t type,
                          uint32_t flags) {
  const uint64_t end = file.size() - cdz::kEndSectionSize;
  const uint64_t index =
      LoadLE64(reinterpret_cast<const uint8_t*>(file.data()) + end + 16);
  std::string extra;
  cdz::AppendSection(static_cast<cdz::SectionType>(type), flags, "future data",
                     &extra);
  std::string out = file.substr(0, index) + extra + file.substr(index);
  SetIndexOffset(&out, index + extra.size());
  return out;
}

TEST(Cdz, UnknownOptionalSectionsAreSkipped) {
  auto model = SampleModel(4);
  std::string file = InsertSection(WriteModel(model, TestManifest()), 77, 0);
  auto reader = OpenBytes(file);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ExpectDecodesTo(**reader, model);
  auto sizes = (*reader)->Sizes();
  ASSERT_TRUE(sizes.ok());
  uint64_t sum = sizes->container_bytes;
  for (const auto& t : sizes->tensors) sum += t.total_bytes;
  EXPECT_EQ(sum, file.size());
}

TEST(Cdz, UnknownRequiredSectionsAndNewerVersionsAreRefused) {
  const std::string file = WriteModel(SampleModel(5), TestManifest());
  auto reader = OpenBytes(InsertSection(file, 77, cdz::kSectionRequired));
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(reader.status().message().find("newer condense"),
            std::string::npos);

  std::string newer = file;
  auto* p = reinterpret_cast<uint8_t*>(newer.data());
  p[8] = 2;   // Major version 2.
  p[10] = 0;  // Minor 0.
  StoreLE32(p + 16, Crc32c(p, 16));
  reader = OpenBytes(newer);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(reader.status().message().find("format version 2.0 is newer"),
            std::string::npos)
      << reader.status();

  // A newer minor version with nothing required still reads.
  std::string minor = file;
  p = reinterpret_cast<uint8_t*>(minor.data());
  p[10] = 9;
  StoreLE32(p + 16, Crc32c(p, 16));
  reader = OpenBytes(minor);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->minor_version(), 9);
}

TEST(Cdz, EmptyModelRoundTrips) {
  std::string file = WriteModel({}, {});
  auto reader = OpenBytes(file);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->tensors().empty());
  EXPECT_TRUE((*reader)->manifest().empty());
}

}  // namespace
}  // namespace condense::codec

namespace condense::codec {
namespace {

TEST(Cdz, NamesAndManifestMustBeUtf8) {
  std::string out;
  EXPECT_FALSE(CdzWriter::Create(NewStringFile(&out), {{"k", "\xff"}}).ok());
  auto w = CdzWriter::Create(NewStringFile(&out), {});
  ASSERT_TRUE(w.ok());
  const float v = 1.0f;
  const std::span<const uint8_t> b(reinterpret_cast<const uint8_t*>(&v), 4);
  EXPECT_FALSE((*w)->AddRaw("bad\xc0\x80", DType::kF32, {1}, b).ok());
  EXPECT_TRUE((*w)->AddRaw("ok \xc3\xa9", DType::kF32, {1}, b).ok());
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // A surrogate.
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));      // Cut short.
}

// What both `inspect` commands print for a manifest value.
TEST(Cdz, ManifestValuesForDisplay) {
  EXPECT_EQ(ManifestValueForDisplay("producer", "cdz pack"), "cdz pack");
  const std::string longer(150, 'x');
  EXPECT_EQ(ManifestValueForDisplay("spec", longer),
            std::string(97, 'x') + "...");
  EXPECT_EQ(ManifestValueForDisplay(kOnnxModelKey, longer),
            "the ONNX graph, 150 bytes (decompress -o MODEL.onnx rebuilds the "
            "model)");
}

}  // namespace
}  // namespace condense::codec
