// Codec benchmark: our Huffman coder against zstd levels 1, 3 and 19 and the
// Shannon bound, on the streams Deep Compression produces, plus whole-.cdz
// decoding to float32. One core. bench/run_codec_bench.sh turns the JSON
// output into the table in docs/benchmarks.md.
//
// Streams:
//   a_indices  10M cluster indices of k-means-quantized (32 centroids,
//              linear init) Laplacian weights pruned by magnitude to 10%
//   a_gaps     the matching relative-position stream (5-bit gaps, fillers)
//   b_geo32    10M i.i.d. symbols, 32 letters, p_i ~ 0.78673^i
//   idx{2,3,4}bit  indices of 4/8/16 centroids: where Huffman's 1 bit per
//              symbol floor costs
#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "codec/cdz_reader.h"
#include "codec/cdz_writer.h"
#include "codec/context_coded.h"
#include "codec/huffman.h"
#include "codec/sparse_quantized.h"
#include "codec/test_distributions.h"

namespace condense::codec {
namespace {

constexpr size_t kSymbols = 10'000'000;
constexpr double kDensity = 0.10;
constexpr int kGapBits = 5;

struct Stream {
  std::vector<uint8_t> symbols;
  uint32_t alphabet = 0;
  double entropy_bits = 0;
};

// A 100M-element layer at 10% density: nonzero positions i.i.d. (what
// magnitude pruning of i.i.d. weights gives), values the quantized Laplacian
// tails. Built once and shared by the streams and the container benchmark.
struct Layer {
  std::vector<float> values;
  std::vector<float> codebook;
};

const Layer& TheLayer() {
  static const Layer* layer = [] {
    auto* l = new Layer;
    const size_t n = static_cast<size_t>(kSymbols / kDensity);
    l->values.assign(n, 0.0f);
    auto idx = testing::QuantizedIndices(kSymbols, 32, true, 1);
    for (int c = 0; c < 32; ++c) l->codebook.push_back(-0.31f + 0.02f * c);
    std::mt19937_64 rng(2);
    std::geometric_distribution<uint64_t> gap(kDensity);
    uint64_t pos = gap(rng);
    for (size_t i = 0; i < kSymbols && pos < n; ++i) {
      l->values[pos] = l->codebook[idx[i]];
      pos += 1 + gap(rng);
    }
    return l;
  }();
  return *layer;
}

Stream MakeStream(std::vector<uint16_t> wide, uint32_t alphabet) {
  Stream s;
  s.alphabet = alphabet;
  s.entropy_bits = testing::EmpiricalEntropyBits(wide, alphabet);
  s.symbols.assign(wide.begin(), wide.end());
  return s;
}

const Stream& GetStream(const std::string& name) {
  static std::map<std::string, Stream>* streams = [] {
    auto* m = new std::map<std::string, Stream>;
    const Layer& layer = TheLayer();
    std::vector<float> sorted = layer.codebook;
    std::vector<uint16_t> indices, gaps;
    const uint32_t filler = (1u << kGapBits) - 1;
    uint64_t cursor = 0;
    for (uint64_t p = 0; p < layer.values.size(); ++p) {
      const float v = layer.values[p];
      if (v == 0.0f) continue;
      indices.push_back(static_cast<uint16_t>(
          std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin()));
      uint64_t d = p - cursor;
      while (d >= filler) {
        gaps.push_back(static_cast<uint16_t>(filler));
        d -= filler;
      }
      gaps.push_back(static_cast<uint16_t>(d));
      cursor = p + 1;
    }
    (*m)["a_indices"] = MakeStream(indices, 32);
    (*m)["a_gaps"] = MakeStream(gaps, 1u << kGapBits);
    (*m)["b_geo32"] =
        MakeStream(testing::GeometricSymbols(kSymbols, 32, 0.78673, 3), 32);
    for (int bits : {2, 3, 4}) {
      (*m)["idx" + std::to_string(bits) + "bit"] = MakeStream(
          testing::QuantizedIndices(kSymbols, 1 << bits, true, 4 + bits),
          1u << bits);
    }
    return m;
  }();
  return streams->at(name);
}

void Report(benchmark::State& state, const Stream& s, size_t compressed) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(s.symbols.size()));
  state.counters["compressed_bytes"] = static_cast<double>(compressed);
  state.counters["bits_per_symbol"] =
      8.0 * static_cast<double>(compressed) / s.symbols.size();
  state.counters["entropy_bits"] = s.entropy_bits;
  state.counters["entropy_bytes"] = s.entropy_bits * s.symbols.size() / 8;
}

void BM_HuffmanEncode(benchmark::State& state, const std::string& name) {
  const Stream& s = GetStream(name);
  std::string out;
  for (auto _ : state) {
    out.clear();
    if (!HuffmanEncode(s.symbols, s.alphabet, &out).ok()) {
      state.SkipWithError("encode failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  Report(state, s, out.size());
}

void BM_HuffmanDecode(benchmark::State& state, const std::string& name) {
  const Stream& s = GetStream(name);
  std::string enc;
  (void)HuffmanEncode(s.symbols, s.alphabet, &enc);
  const std::span<const uint8_t> bytes(
      reinterpret_cast<const uint8_t*>(enc.data()), enc.size());
  std::vector<uint8_t> out(s.symbols.size());
  for (auto _ : state) {
    if (!HuffmanDecode(bytes, std::span<uint8_t>(out)).ok()) {
      state.SkipWithError("decode failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  if (out != s.symbols) state.SkipWithError("decode mismatch");
  Report(state, s, enc.size());
}

void BM_ZstdCompress(benchmark::State& state, const std::string& name) {
  const Stream& s = GetStream(name);
  const int level = static_cast<int>(state.range(0));
  std::vector<char> out(ZSTD_compressBound(s.symbols.size()));
  size_t size = 0;
  for (auto _ : state) {
    size = ZSTD_compress(out.data(), out.size(), s.symbols.data(),
                         s.symbols.size(), level);
    benchmark::DoNotOptimize(out.data());
  }
  Report(state, s, size);
}

void BM_ZstdDecompress(benchmark::State& state, const std::string& name) {
  const Stream& s = GetStream(name);
  const int level = static_cast<int>(state.range(0));
  std::vector<char> enc(ZSTD_compressBound(s.symbols.size()));
  const size_t size = ZSTD_compress(enc.data(), enc.size(), s.symbols.data(),
                                    s.symbols.size(), level);
  std::vector<uint8_t> out(s.symbols.size());
  for (auto _ : state) {
    const size_t n = ZSTD_decompress(out.data(), out.size(), enc.data(), size);
    if (n != out.size()) state.SkipWithError("zstd decompress failed");
    benchmark::DoNotOptimize(out.data());
  }
  if (out != s.symbols) state.SkipWithError("decode mismatch");
  Report(state, s, size);
}

// The same indices as a dense quantized tensor through the tensor encoding,
// which packs several small indices per Huffman symbol when that is smaller.
// Sizes count the index stream and both Huffman tables; speeds are of the
// whole tensor encode and decode (to float32), per index.
void BM_PackedIndices(benchmark::State& state, const std::string& name) {
  const Stream& s = GetStream(name);
  std::vector<float> codebook(s.alphabet);
  for (uint32_t c = 0; c < s.alphabet; ++c) codebook[c] = 0.5f + c;
  std::vector<float> values(s.symbols.size());
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = codebook[s.symbols[i]];
  }
  std::string payload;
  SparseQuantizedParts parts;
  for (auto _ : state) {
    payload.clear();
    if (!EncodeSparseQuantized(values, codebook, 1, &payload, &parts).ok()) {
      state.SkipWithError("encode failed");
    }
  }
  Report(state, s, parts.index_bytes + parts.table_bytes);
  state.counters["index_pack"] = parts.index_pack;
}

// The same indices as a dense tensor through the context coder (only its
// index stream is coded: every element holds a weight). Sizes count the
// index stream; speed is the whole tensor's decode to float32, per index.
void BM_ContextIndices(benchmark::State& state, const std::string& name) {
  const Stream& s = GetStream(name);
  std::vector<float> codebook(s.alphabet);
  for (uint32_t c = 0; c < s.alphabet; ++c) codebook[c] = 0.5f + c;
  std::vector<float> values(s.symbols.size());
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = codebook[s.symbols[i]];
  }
  std::string payload;
  ContextCodedParts parts;
  if (!EncodeContextCoded(values, codebook, values.size(), &payload, &parts)
           .ok()) {
    state.SkipWithError("encode failed");
    return;
  }
  const std::span<const uint8_t> bytes(
      reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  std::vector<float> out(values.size());
  for (auto _ : state) {
    if (!DecodeContextCoded(bytes, std::span<float>(out), "bench").ok()) {
      state.SkipWithError("decode failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  if (out != values) state.SkipWithError("decode mismatch");
  Report(state, s, parts.index_bytes);
}

// The 100M-element layer through the context coder, decoded to float32 on
// the argument's threads (its segments side by side): items are elements
// (positions, zeros included).
void BM_ContextDecodeLayer(benchmark::State& state) {
  const auto threads = static_cast<int>(state.range(0));
  const Layer& layer = TheLayer();
  static const std::string* payload = [&] {
    auto* p = new std::string;
    (void)EncodeContextCoded(layer.values, layer.codebook, 10000, p);
    return p;
  }();
  const std::span<const uint8_t> bytes(
      reinterpret_cast<const uint8_t*>(payload->data()), payload->size());
  std::vector<float> out(layer.values.size());
  (void)DecodeContextCoded(bytes, std::span<float>(out), "bench", threads);
  for (auto _ : state) {
    if (!DecodeContextCoded(bytes, std::span<float>(out), "bench", threads)
             .ok()) {
      state.SkipWithError("decode failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  if (std::memcmp(out.data(), layer.values.data(), out.size() * 4) != 0) {
    state.SkipWithError("decode mismatch");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(out.size()));
  state.counters["body_bytes"] = static_cast<double>(payload->size());
}

// Context decoding across mask densities (percent in the argument): 10M
// elements, rows of 1,000, positions i.i.d., 32 centroids (levels
// geometric, as pruned Laplacian tails are).
void BM_ContextDecodeDensity(benchmark::State& state) {
  const double density = static_cast<double>(state.range(0)) / 100.0;
  constexpr size_t kElements = 10'000'000;
  std::vector<float> codebook(32);
  for (int c = 0; c < 32; ++c) codebook[c] = -0.31f + 0.02f * c;
  std::vector<float> values(kElements, 0.0f);
  std::mt19937_64 rng(static_cast<uint64_t>(state.range(0)));
  std::uniform_real_distribution<double> u(0, 1);
  std::geometric_distribution<int> level(0.2);
  for (float& v : values) {
    if (u(rng) < density) v = codebook[std::min(31, level(rng))];
  }
  std::string payload;
  if (!EncodeContextCoded(values, codebook, 1000, &payload).ok()) {
    state.SkipWithError("encode failed");
    return;
  }
  const std::span<const uint8_t> bytes(
      reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  std::vector<float> out(kElements);
  for (auto _ : state) {
    if (!DecodeContextCoded(bytes, std::span<float>(out), "bench").ok()) {
      state.SkipWithError("decode failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  if (out != values) state.SkipWithError("decode mismatch");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kElements));
}

// The whole container: open, checksum, decode, scatter to float32.
void BM_CdzDecodeToFloat32(benchmark::State& state) {
  const Layer& layer = TheLayer();
  std::string file;
  {
    auto w = CdzWriter::Create(NewStringFile(&file), {{"bench", "1"}});
    (void)(*w)->AddQuantized("fc.weight", DType::kF32,
                             {10000, layer.values.size() / 10000}, layer.values,
                             layer.codebook,
                             {.gap_bits = kGapBits,
                              .allow_context_coded = false,
                              .allow_fixed_width = false});
    (void)(*w)->Finish();
  }
  auto reader = CdzReader::Open(NewMemoryFile(file));
  if (!reader.ok()) {
    state.SkipWithError("open failed");
    return;
  }
  DecodedTensor t;
  // Steady state: the output buffer is reused, so first-touch page faults of
  // 400 MB are not counted.
  (void)(*reader)->Decode(0, &t);
  for (auto _ : state) {
    if (!(*reader)->Decode(0, &t).ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(t.values.data());
  }
  if (std::memcmp(t.values.data(), layer.values.data(),
                  layer.values.size() * 4) != 0) {
    state.SkipWithError("decode mismatch");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(layer.values.size() * 4));
  state.counters["file_bytes"] = static_cast<double>(file.size());
  state.counters["ratio"] =
      static_cast<double>(layer.values.size() * 4) / file.size();
}

void RegisterAll() {
  for (const char* name :
       {"a_indices", "a_gaps", "b_geo32", "idx2bit", "idx3bit", "idx4bit"}) {
    const std::string n = name;
    benchmark::RegisterBenchmark(("huffman_encode/" + n).c_str(),
                                 BM_HuffmanEncode, n)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("huffman_decode/" + n).c_str(),
                                 BM_HuffmanDecode, n)
        ->Unit(benchmark::kMillisecond);
    if (n != "a_gaps" && n != "b_geo32") {
      benchmark::RegisterBenchmark(("packed_encode/" + n).c_str(),
                                   BM_PackedIndices, n)
          ->Unit(benchmark::kMillisecond);
    }
    if (n != "a_gaps") {
      benchmark::RegisterBenchmark(("context_indices/" + n).c_str(),
                                   BM_ContextIndices, n)
          ->Unit(benchmark::kMillisecond);
    }
    for (int level : {1, 3, 19}) {
      // Level 19 compression takes seconds per run: one iteration is enough.
      auto* c = benchmark::RegisterBenchmark(("zstd_compress/" + n).c_str(),
                                             BM_ZstdCompress, n)
                    ->Arg(level)
                    ->Unit(benchmark::kMillisecond);
      if (level == 19) c->Iterations(1)->Repetitions(1);
      benchmark::RegisterBenchmark(("zstd_decompress/" + n).c_str(),
                                   BM_ZstdDecompress, n)
          ->Arg(level)
          ->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::RegisterBenchmark("cdz_decode_float32", BM_CdzDecodeToFloat32)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("context_decode_layer", BM_ContextDecodeLayer)
      ->Arg(1)
      ->Arg(2)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  auto* density = benchmark::RegisterBenchmark("context_decode_density",
                                               BM_ContextDecodeDensity);
  for (int percent : {1, 10, 20, 30, 50, 70, 80, 90}) density->Arg(percent);
  density->Unit(benchmark::kMillisecond);
}

}  // namespace
}  // namespace condense::codec

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  condense::codec::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
