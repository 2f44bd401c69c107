// The C API (include/cdz.h) against CdzReader: the same tensors bit for bit
// in every dtype it offers, from a path and from memory, and a clear status
// for every misuse and every damaged file.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cdz.h"
#include "codec/cdz_test_util.h"
#include "codec/dtype.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::codec {
namespace {

using ::testing::HasSubstr;

struct Reader {
  cdz_reader* r = nullptr;
  ~Reader() { cdz_close(r); }
};

std::string SampleFile() {
  return testing::WriteModel(testing::SampleModel(7), {{"producer", "test"}});
}

std::vector<uint8_t> DecodeC(const cdz_reader* r, size_t i, cdz_dtype as) {
  cdz_tensor_info info;
  EXPECT_EQ(cdz_tensor_info_at(r, i, &info), CDZ_OK);
  std::vector<uint8_t> out(info.numel * cdz_dtype_size(as));
  EXPECT_EQ(cdz_decode(r, i, as, out.data(), out.size(), nullptr), CDZ_OK)
      << cdz_last_error();
  return out;
}

TEST(CdzCApiTest, DecodesEveryTensorAsTheCppReaderDoes) {
  const std::string bytes = SampleFile();
  auto cpp = testing::OpenBytes(bytes);
  ASSERT_TRUE(cpp.ok()) << cpp.status();
  Reader c;
  ASSERT_EQ(cdz_open_memory(bytes.data(), bytes.size(), nullptr, &c.r), CDZ_OK)
      << cdz_last_error();
  ASSERT_EQ(cdz_tensor_count(c.r), (*cpp)->tensors().size());
  uint16_t major = 0, minor = 0;
  cdz_format_version(c.r, &major, &minor);
  EXPECT_EQ(major, (*cpp)->major_version());
  EXPECT_EQ(minor, (*cpp)->minor_version());
  cdz_scratch* scratch = cdz_scratch_new();
  for (size_t i = 0; i < cdz_tensor_count(c.r); ++i) {
    const auto& t = (*cpp)->tensors()[i];
    cdz_tensor_info info;
    ASSERT_EQ(cdz_tensor_info_at(c.r, i, &info), CDZ_OK);
    EXPECT_EQ(std::string(info.name, info.name_length), t.name);
    EXPECT_EQ(std::strlen(info.name), info.name_length);
    EXPECT_EQ(static_cast<uint8_t>(info.dtype), static_cast<uint8_t>(t.dtype));
    EXPECT_EQ(static_cast<uint8_t>(info.encoding),
              static_cast<uint8_t>(t.encoding));
    EXPECT_EQ(std::vector<uint64_t>(info.shape, info.shape + info.rank),
              t.shape);
    EXPECT_EQ(info.numel, t.numel);
    EXPECT_EQ(info.stored_bytes, t.section_size);
    size_t found = 99;
    ASSERT_EQ(cdz_find_tensor(c.r, info.name, &found), CDZ_OK);
    EXPECT_EQ(found, i);

    DecodedTensor expected;
    ASSERT_TRUE((*cpp)->Decode(i, &expected).ok());
    if (!IsFloatingDType(t.dtype)) {
      EXPECT_EQ(DecodeC(c.r, i, static_cast<cdz_dtype>(t.dtype)),
                expected.bytes)
          << t.name;
      std::vector<uint8_t> out(t.numel * 4);
      EXPECT_EQ(cdz_decode(c.r, i, CDZ_F32, out.data(), out.size(), scratch),
                CDZ_INVALID_ARGUMENT);
      EXPECT_THAT(cdz_last_error(), HasSubstr(t.name));
      continue;
    }
    // Every floating dtype: the float32 values, converted as DType does.
    for (cdz_dtype as : {CDZ_F32, CDZ_F16, CDZ_BF16, CDZ_F64}) {
      std::vector<uint8_t> want(t.numel * cdz_dtype_size(as));
      ASSERT_TRUE(ConvertFromFloat32(static_cast<DType>(as),
                                     expected.values.data(), t.numel,
                                     want.data()));
      std::vector<uint8_t> got(want.size());
      ASSERT_EQ(cdz_decode(c.r, i, as, got.data(), got.size(), scratch), CDZ_OK)
          << t.name << ": " << cdz_last_error();
      EXPECT_EQ(got, want) << t.name << " as " << cdz_dtype_name(as);
      uint64_t need = 0;
      ASSERT_EQ(cdz_scratch_bytes(c.r, i, as, &need), CDZ_OK);
      EXPECT_GE(need, t.section_size);
    }
  }
  cdz_scratch_free(scratch);
}

TEST(CdzCApiTest, RawHalfTensorsComeBackBitForBitInTheirOwnDType) {
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    // Every 16-bit pattern but NaNs (whose payload may be quieted).
    std::vector<uint8_t> raw;
    for (uint32_t h = 0; h < 65536; ++h) {
      const bool nan = dtype == DType::kF16
                           ? (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0
                           : (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0;
      if (nan) continue;
      raw.push_back(static_cast<uint8_t>(h));
      raw.push_back(static_cast<uint8_t>(h >> 8));
    }
    const uint64_t n = raw.size() / 2;
    testing::ModelTensor t{"half", dtype, {n}, false};
    t.raw = raw;
    const std::string bytes = testing::WriteModel({t}, {});
    Reader c;
    ASSERT_EQ(cdz_open_memory(bytes.data(), bytes.size(), nullptr, &c.r),
              CDZ_OK);
    EXPECT_EQ(DecodeC(c.r, 0, static_cast<cdz_dtype>(dtype)), raw);
    // Through float32 and back gives the same bits too: the conversions are
    // exact both ways for values of the narrower type.
    const auto f32 = DecodeC(c.r, 0, CDZ_F32);
    std::vector<uint8_t> back(raw.size());
    ConvertFromFloat32(dtype, reinterpret_cast<const float*>(f32.data()), n,
                       back.data());
    EXPECT_EQ(back, raw) << DTypeName(dtype);
  }
}

TEST(CdzCApiTest, OpensFromAPathAndReportsTheManifest) {
  const std::string bytes = SampleFile();
  const std::string path =
      ::testing::TempDir() + "/cdz_c_api_test_" + std::to_string(::getpid());
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
  Reader c;
  ASSERT_EQ(cdz_open_file(path.c_str(), nullptr, &c.r), CDZ_OK)
      << cdz_last_error();
  std::remove(path.c_str());
  size_t length = 0;
  ASSERT_EQ(cdz_manifest_json(c.r, nullptr, 0, &length), CDZ_OK);
  std::string json(length + 1, '\0');
  ASSERT_EQ(cdz_manifest_json(c.r, json.data(), json.size(), &length), CDZ_OK);
  json.resize(length);
  EXPECT_EQ(json, R"({"producer":"test"})");
  char small[4];
  EXPECT_EQ(cdz_manifest_json(c.r, small, sizeof small, &length),
            CDZ_OUT_OF_RANGE);
  EXPECT_STREQ(small, "{\"p");
}

TEST(CdzCApiTest, MisuseGetsAStatusAndAMessage) {
  const std::string bytes = SampleFile();
  Reader c;
  ASSERT_EQ(cdz_open_memory(bytes.data(), bytes.size(), nullptr, &c.r), CDZ_OK);
  const size_t n = cdz_tensor_count(c.r);
  cdz_tensor_info info;
  EXPECT_EQ(cdz_tensor_info_at(c.r, n, &info), CDZ_OUT_OF_RANGE);
  float one;
  EXPECT_EQ(cdz_decode(c.r, n, CDZ_F32, &one, 4, nullptr), CDZ_OUT_OF_RANGE);
  EXPECT_THAT(cdz_last_error(), HasSubstr("requested"));
  size_t index;
  EXPECT_EQ(cdz_find_tensor(c.r, "no.such.tensor", &index), CDZ_NOT_FOUND);
  EXPECT_THAT(cdz_last_error(), HasSubstr("no.such.tensor"));
  EXPECT_EQ(cdz_decode(nullptr, 0, CDZ_F32, &one, 4, nullptr),
            CDZ_INVALID_ARGUMENT);
  ASSERT_EQ(cdz_find_tensor(c.r, "classifier.fc1.weight", &index), CDZ_OK);
  ASSERT_EQ(cdz_tensor_info_at(c.r, index, &info), CDZ_OK);
  std::vector<float> out(info.numel + 1);
  EXPECT_EQ(cdz_decode(c.r, index, CDZ_F32, out.data(), 4 * (info.numel + 1),
                       nullptr),
            CDZ_INVALID_ARGUMENT);
  EXPECT_THAT(cdz_last_error(), HasSubstr("classifier.fc1.weight"));
  EXPECT_EQ(cdz_decode(c.r, index, static_cast<cdz_dtype>(42), out.data(),
                       4 * info.numel, nullptr),
            CDZ_INVALID_ARGUMENT);
  // A success clears the message.
  EXPECT_EQ(
      cdz_decode(c.r, index, CDZ_F32, out.data(), 4 * info.numel, nullptr),
      CDZ_OK);
  EXPECT_STREQ(cdz_last_error(), "");

  cdz_reader* none = reinterpret_cast<cdz_reader*>(1);
  EXPECT_EQ(cdz_open_file("/nonexistent/model.cdz", nullptr, &none),
            CDZ_NOT_FOUND);
  EXPECT_EQ(none, nullptr);
  EXPECT_THAT(cdz_last_error(), HasSubstr("/nonexistent/model.cdz"));
  EXPECT_EQ(cdz_open_memory("not a cdz", 9, nullptr, &none),
            CDZ_INVALID_ARGUMENT);
  EXPECT_THAT(cdz_last_error(), HasSubstr("too small to be a .cdz"));
  EXPECT_EQ(cdz_open_memory(nullptr, 0, nullptr, &none), CDZ_INVALID_ARGUMENT);
  EXPECT_EQ(cdz_open_memory(nullptr, 5, nullptr, &none), CDZ_INVALID_ARGUMENT);
  EXPECT_EQ(std::string(cdz_dtype_name(static_cast<cdz_dtype>(77))), "UNKNOWN");
  EXPECT_EQ(cdz_api_version(), CDZ_API_VERSION);
}

// A tensor past the segmenting size decodes the same on several threads.
TEST(CdzCApiTest, DecodeThreadsGiveTheSameValues) {
  const testing::ModelTensor big = testing::SegmentedTensor(3);
  const std::string bytes = testing::WriteModel({big}, {});
  Reader c;
  ASSERT_EQ(cdz_open_memory(bytes.data(), bytes.size(), nullptr, &c.r), CDZ_OK);
  const std::vector<uint8_t> one = DecodeC(c.r, 0, CDZ_F32);
  EXPECT_EQ(cdz_set_decode_threads(c.r, 3), CDZ_OK);
  EXPECT_EQ(DecodeC(c.r, 0, CDZ_F32), one);
  EXPECT_EQ(cdz_set_decode_threads(c.r, -5), CDZ_OK);  // As 1.
  EXPECT_EQ(DecodeC(c.r, 0, CDZ_F32), one);
  ASSERT_EQ(one.size(), big.values.size() * 4);
  EXPECT_EQ(std::memcmp(one.data(), big.values.data(), one.size()), 0);
  EXPECT_EQ(cdz_set_decode_threads(nullptr, 2), CDZ_INVALID_ARGUMENT);
}

TEST(CdzCApiTest, ScratchLimitIsEnforced) {
  const std::string bytes = SampleFile();
  cdz_options options{};
  options.max_scratch_bytes = 64;
  Reader c;
  ASSERT_EQ(cdz_open_memory(bytes.data(), bytes.size(), &options, &c.r),
            CDZ_OK);
  size_t index;
  ASSERT_EQ(cdz_find_tensor(c.r, "classifier.fc1.weight", &index), CDZ_OK);
  cdz_tensor_info info;
  ASSERT_EQ(cdz_tensor_info_at(c.r, index, &info), CDZ_OK);
  std::vector<float> out(info.numel);
  EXPECT_EQ(
      cdz_decode(c.r, index, CDZ_F32, out.data(), 4 * info.numel, nullptr),
      CDZ_RESOURCE_EXHAUSTED);
  EXPECT_THAT(cdz_last_error(), HasSubstr("max_scratch_bytes"));
}

TEST(CdzCApiTest, EveryTruncationAndFlippedByteIsAStatusNeverACrash) {
  const std::string bytes = SampleFile();
  std::vector<uint8_t> out;
  auto try_all = [&](const std::string& file) {
    cdz_reader* r = nullptr;
    if (cdz_open_memory(file.data(), file.size(), nullptr, &r) != CDZ_OK) {
      EXPECT_NE(std::string(cdz_last_error()), "");
      return;
    }
    for (size_t i = 0; i < cdz_tensor_count(r); ++i) {
      cdz_tensor_info info;
      ASSERT_EQ(cdz_tensor_info_at(r, i, &info), CDZ_OK);
      const cdz_dtype as = IsFloatingDType(static_cast<DType>(info.dtype))
                               ? CDZ_F32
                               : info.dtype;
      out.resize(info.numel * cdz_dtype_size(as));
      if (cdz_decode(r, i, as, out.data(), out.size(), nullptr) != CDZ_OK) {
        EXPECT_NE(std::string(cdz_last_error()), "");
      }
    }
    cdz_close(r);
  };
  for (size_t n = 0; n < bytes.size(); n += 7) try_all(bytes.substr(0, n));
  for (size_t at = 0; at < bytes.size(); at += 5) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x20);
    try_all(damaged);
  }
}

}  // namespace
}  // namespace condense::codec
