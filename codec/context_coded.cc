#include "codec/context_coded.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codec/byte_io.h"
#include "codec/codebook.h"
#include "codec/range_coder.h"

namespace condense::codec {
namespace {

// Mask contexts: column history (7) x row density (5) x the weight before
// (2) x nonzeros among the last eight in the row (4).
constexpr int kMaskContexts = 7 * 5 * 2 * 4;
// The model byte: 0 codes every index with one set of tree models; 1 with
// three sets (no weight before it in the row; one in the lower half of the
// codebook; one in the upper half).
constexpr int kMaxModel = 1;

// The adaptation limits the encoder tries for each stream (the one that codes
// smallest is recorded in the header).
constexpr int kLimits[] = {5, 7, 10};
// Past this many elements the mask is coded with the middle limit only.
constexpr uint64_t kTryLimitsUpTo = uint64_t{1} << 22;
// The index candidates (both model sets, every limit) run side by side for
// this many weights; past it only the one that has coded smallest so far
// goes on. Every candidate costs the whole coding work again, and by this
// point the adaptation limits have diverged (a leaf of an 8-bit tree has
// seen about 2,000 updates) while the ranking rarely changes after it.
constexpr uint64_t kIndexTrialWeights = uint64_t{1} << 18;

std::span<const int> LimitsToTry(uint64_t elements) {
  if (elements <= kTryLimitsUpTo) return kLimits;
  return std::span<const int>(kLimits).subspan(1, 1);
}

using Wide = unsigned __int128;  // Exact products of counts and sizes.

// Rows this long or longer have no row feature: its products would not fit
// in 64 bits.
constexpr uint64_t kMaxRowFeatureCols = uint64_t{1} << 31;

// The significance model's state while the mask is walked in row-major
// order: which of the kMaskContexts models codes the next flag. The encoder
// and the decoder drive the same state, so they agree by construction.
// Densities are compared with the density of the rows above, in integers:
//   column: never set in the rows above, or its count against the mean
//           column count (ratios 1/4, 1/2, 1, 2);
//   row:    this row's count so far against what the rows above predict
//           for this many columns (ratios 1/2, 1, 2), from column 16 on,
//           in 32.32 fixed point.
class MaskState {
 public:
  MaskState(uint64_t rows, uint64_t cols)
      : cols_(cols), column_count_(rows > 1 ? cols : 0, 0) {}

  void BeginRow(uint64_t r) {
    r_ = r;
    above_ = ones_;
    above_elements_ = r * cols_;
    row_ones_ = 0;
    window_ = 0;
    in_window_ = 0;
    // The column comparisons k*cols >= t*m (m = 1/4, 1/2, 1, 2) as
    // thresholds on k, once per row: k >= ceil(t*m / cols).
    const Wide t = above_;
    const Wide c = cols_;
    const Wide num[4] = {t, t, t, 2 * t};
    const Wide den[4] = {4 * c, 2 * c, c, c};
    for (int j = 0; j < 4; ++j) {
      column_threshold_[j] =
          static_cast<uint64_t>((num[j] + den[j] - 1) / den[j]);
    }
    per_element_ =
        r == 0 ? 0
               : static_cast<uint64_t>((Wide{above_} << 32) / above_elements_);
  }

  uint32_t Context(uint64_t c) const {
    static constexpr uint8_t kRecent[9] = {0, 1, 2, 2, 3, 3, 3, 3, 3};
    uint32_t column = 0;
    uint32_t row = 0;
    if (r_ > 0) {
      const uint64_t k = column_count_[c];
      column =
          k == 0
              ? 1
              : 2 + (k >= column_threshold_[0]) + (k >= column_threshold_[1]) +
                    (k >= column_threshold_[2]) + (k >= column_threshold_[3]);
      if (c >= 16 && cols_ < kMaxRowFeatureCols) {
        // e/2^32 = c * (weights per element above): this row's expected
        // count so far, against its count a/2^32.
        const uint64_t a = row_ones_ << 32;
        const uint64_t e = c * per_element_;
        row = 1 + (2 * a >= e) + (a >= e) + (a >= 2 * e);
      }
    }
    return ((column * 5 + row) * 2 + (window_ & 1)) * 4 + kRecent[in_window_];
  }

  void Update(uint64_t c, uint32_t bit) {
    if (!column_count_.empty()) column_count_[c] += bit;
    row_ones_ += bit;
    ones_ += bit;
    in_window_ += bit - ((window_ >> 7) & 1);
    window_ = ((window_ << 1) | bit) & 0xFF;
  }

  uint64_t ones() const { return ones_; }

 private:
  uint64_t cols_;
  std::vector<uint64_t> column_count_;
  uint64_t r_ = 0;
  uint64_t above_ = 0;           // Weights in the rows above.
  uint64_t above_elements_ = 0;  // Elements in the rows above.
  uint64_t row_ones_ = 0;
  uint64_t ones_ = 0;
  uint32_t window_ = 0;  // The row's last eight flags, newest in bit 0.
  uint32_t in_window_ = 0;
  uint64_t column_threshold_[4] = {};
  uint64_t per_element_ = 0;  // floor(2^32 * above / above_elements).
};

// Codes one index through the binary tree (most significant bit first);
// code(model, level) returns the bit at `level`. A bit that no index below
// `centroids` could have set is not coded.
template <typename Code>
uint32_t CodeIndex(uint32_t centroids, int levels, BitModel* models,
                   Code code) {
  uint32_t node = 1;
  uint32_t value = 0;
  for (int level = levels - 1; level >= 0; --level) {
    uint32_t bit = 0;
    if ((value | (1u << level)) < centroids) bit = code(&models[node], level);
    value |= bit << level;
    node = node * 2 + bit;
  }
  return value;
}

// Decodes one index as CodeIndex codes it, loading both children's
// probabilities before the bit that picks one is known, so that the walk
// waits on arithmetic only, not on a load per level.
uint32_t DecodeIndex(uint32_t centroids, int levels, BitModel* models,
                     RangeDecoder* dec) {
  if (levels == 0) return 0;  // One centroid: nothing coded, no tree.
  uint32_t node = 1;
  uint32_t value = 0;
  uint32_t p = models[1].P16();
  for (int level = levels - 1; level >= 0; --level) {
    uint32_t p0 = 0;
    uint32_t p1 = 0;
    if (level > 0) {
      p0 = models[2 * node].P16();
      p1 = models[2 * node + 1].P16();
    }
    uint32_t bit = 0;
    if ((value | (1u << level)) < centroids) {
      bit = dec->DecodeWithP16(p, &models[node]);
    }
    value |= bit << level;
    node = node * 2 + bit;
    p = bit != 0 ? p1 : p0;
  }
  return value;
}

// The index model set of a weight: 0 without a weight before it in the row,
// else 1 + whether that weight is in the upper half of the codebook.
uint32_t IndexSet(int index_contexts, bool left_set, uint32_t left_index,
                  uint32_t centroids) {
  if (index_contexts == 0 || !left_set) return 0;
  return 1 + (left_index * 2 >= centroids ? 1 : 0);
}

uint32_t IndexSets(int index_contexts) { return index_contexts == 0 ? 1 : 3; }

struct Layout {
  int index_contexts = 0;
  int mask_limit = 0;
  int index_limit = 0;
  uint32_t centroids = 0;
  std::span<const uint8_t> codebook;
  uint64_t row_length = 0;
  uint64_t nonzeros = 0;
  std::span<const uint8_t> mask_stream;
  std::span<const uint8_t> index_stream;
  size_t field_bytes = 0;  // Model byte, row length, counts, lengths.
  size_t count_bytes = 0;  // The centroid count's varint.
};

absl::Status ParseLayout(std::span<const uint8_t> payload, uint64_t numel,
                         absl::string_view context, Layout* l) {
  ByteReader r(payload, context);
  uint8_t model = 0;
  if (auto s = r.U8("model", &model); !s.ok()) return s;
  if (model > kMaxModel) {
    return r.Corrupt(absl::StrCat("model ", model,
                                  " unknown (this decoder knows 0 and 1); a "
                                  "newer condense wrote it: upgrade"));
  }
  uint8_t limits[2] = {};
  for (uint8_t& limit : limits) {
    if (auto s = r.U8("adaptation limit", &limit); !s.ok()) return s;
    if (limit < kMinAdaptLimit || limit > kMaxAdaptLimit) {
      return r.Corrupt(absl::StrCat("adaptation limit ", limit, " outside ",
                                    kMinAdaptLimit, "..", kMaxAdaptLimit));
    }
  }
  l->mask_limit = limits[0];
  l->index_limit = limits[1];
  uint64_t centroids = 0;
  const size_t count_start = r.offset();
  if (auto s = r.Varint("centroid count", &centroids); !s.ok()) return s;
  l->count_bytes = r.offset() - count_start;
  if (centroids == 0 || centroids > kMaxCentroids) {
    return r.Corrupt(absl::StrCat("centroid count ", centroids, " outside 1..",
                                  kMaxCentroids));
  }
  if (auto s = r.Bytes("codebook", centroids * 4, &l->codebook); !s.ok())
    return s;
  const std::vector<float> book = LoadCodebook(l->codebook);
  for (size_t i = 1; i < book.size(); ++i) {
    if (!(book[i - 1] < book[i])) {
      return r.Corrupt("codebook is not strictly ascending");
    }
  }
  const size_t before = r.offset();
  if (auto s = r.Varint("row length", &l->row_length); !s.ok()) return s;
  if (l->row_length == 0 || (numel > 0 && numel % l->row_length != 0)) {
    return r.Corrupt(absl::StrCat("row length ", l->row_length,
                                  " does not divide the ", numel, " elements"));
  }
  if (auto s = r.Varint("nonzero count", &l->nonzeros); !s.ok()) return s;
  if (l->nonzeros > numel) {
    return r.Corrupt(absl::StrCat("nonzero count ", l->nonzeros,
                                  " exceeds the ", numel, " elements"));
  }
  uint64_t mask_len = 0;
  if (auto s = r.Varint("mask stream length", &mask_len); !s.ok()) return s;
  const bool mask_coded = l->nonzeros > 0 && l->nonzeros < numel;
  if (!mask_coded && mask_len != 0) {
    return r.Corrupt("mask stream present where every weight is known");
  }
  if (auto s = r.Bytes("mask stream", mask_len, &l->mask_stream); !s.ok())
    return s;
  l->field_bytes = 3 + (r.offset() - before - mask_len);
  l->index_stream = r.rest();
  if ((l->nonzeros == 0 || centroids == 1) && !l->index_stream.empty()) {
    return r.Corrupt("index stream present where no index is coded");
  }
  l->index_contexts = model;
  l->centroids = static_cast<uint32_t>(centroids);
  return absl::OkStatus();
}

// One way of coding a stream (its adaptation limit and, for the indices,
// its model set), with its own models and output.
struct Candidate {
  Candidate(int adapt_limit, int model_sets, size_t model_count, size_t reserve)
      : limit(adapt_limit),
        index_contexts(model_sets),
        models(model_count),
        enc(&out, adapt_limit) {
    out.reserve(reserve);
  }
  int limit;
  int index_contexts;
  std::string out;
  std::vector<BitModel> models;
  RangeEncoder enc;
};
using Candidates = std::vector<std::unique_ptr<Candidate>>;

// The candidate that coded smallest; the first of equals, so that the choice
// does not depend on how the candidates were run.
Candidate& Smallest(Candidates& candidates) {
  Candidate* best = candidates.front().get();
  for (auto& c : candidates) {
    if (c->out.size() < best->out.size()) best = c.get();
  }
  return *best;
}

// The coded streams of a tensor, each the smallest of its candidates.
struct Streams {
  std::string mask;
  int mask_limit = 0;
  std::string indices;
  int index_contexts = 0;
  int index_limit = 0;
};

// Codes the mask and the indices under every candidate limit and index
// model in one pass over the values: each value is read, and its codebook
// index found, once, however many candidates there are. The index
// candidates are narrowed to the leader after kIndexTrialWeights.
absl::StatusOr<Streams> EncodeStreams(std::span<const float> values,
                                      std::span<const float> sorted,
                                      uint64_t cols, uint64_t nonzeros) {
  const uint64_t numel = values.size();
  const std::span<const int> limits = LimitsToTry(numel);
  const bool mask_coded = nonzeros > 0 && nonzeros < numel;
  const auto centroids = static_cast<uint32_t>(sorted.size());
  const int levels = IndexBits(centroids);
  const bool index_coded = nonzeros > 0 && levels > 0;
  const size_t tree = size_t{1} << levels;
  Candidates mask;
  if (mask_coded) {
    for (int limit : limits) {
      // About one bit per flag at most.
      mask.push_back(
          std::make_unique<Candidate>(limit, 0, kMaskContexts, numel / 8 + 16));
    }
  }
  // About the fixed-width size, which an adaptive code rarely exceeds: the
  // stream of a large tensor then holds no doubling slack. The trial
  // candidates reserve for the trial only; the one that goes on, for all.
  auto index_reserve = [&](uint64_t weights) {
    return weights * static_cast<uint64_t>(levels) / 8 + 16;
  };
  Candidates index;
  if (index_coded) {
    for (int contexts = 0; contexts <= (centroids > 2 ? 1 : 0); ++contexts) {
      for (int limit : kLimits) {
        index.push_back(std::make_unique<Candidate>(
            limit, contexts, tree * IndexSets(contexts),
            index_reserve(std::min(nonzeros, kIndexTrialWeights))));
      }
    }
  }
  const CodebookLookup lookup(sorted);
  MaskState state(numel / cols, cols);
  bool left_set = false;
  uint32_t left_index = 0;
  uint64_t coded = 0;  // Weights whose index is coded.
  uint64_t r = 0;
  uint64_t c = 0;
  for (uint64_t pos = 0; pos < numel; ++pos, ++c) {
    if (c == cols) {
      c = 0;
      ++r;
    }
    if (c == 0) {
      if (mask_coded) state.BeginRow(r);
      left_set = false;
    }
    const float value = values[pos];
    const uint32_t bit = value != 0.0f ? 1 : 0;
    // Flags stop after the last weight: the decoder knows the count.
    if (mask_coded && state.ones() < nonzeros) {
      const uint32_t context = state.Context(c);
      for (auto& m : mask) m->enc.Encode(bit, &m->models[context]);
      state.Update(c, bit);
    }
    if (bit == 0) {
      left_set = false;
      continue;
    }
    const int64_t found = lookup.Find(value);
    if (found < 0) return NotInCodebookError(value, pos);
    const auto v = static_cast<uint32_t>(found);
    for (auto& k : index) {
      const uint32_t set =
          IndexSet(k->index_contexts, left_set, left_index, centroids);
      RangeEncoder& enc = k->enc;
      CodeIndex(centroids, levels, &k->models[set * tree],
                [&](BitModel* model, int level) {
                  const uint32_t b = (v >> level) & 1;
                  enc.Encode(b, model);
                  return b;
                });
    }
    left_set = true;
    left_index = v;
    if (++coded == kIndexTrialWeights && index.size() > 1) {
      Candidate* leader = &Smallest(index);
      std::erase_if(index, [&](const auto& k) { return k.get() != leader; });
      leader->out.reserve(index_reserve(nonzeros));
    }
  }
  Streams out;
  out.mask_limit = limits[0];
  out.index_limit = limits[0];
  if (!mask.empty()) {
    for (auto& m : mask) m->enc.Finish();
    Candidate& best = Smallest(mask);
    out.mask = std::move(best.out);
    out.mask_limit = best.limit;
  }
  if (!index.empty()) {
    for (auto& k : index) k->enc.Finish();
    Candidate& best = Smallest(index);
    out.indices = std::move(best.out);
    out.index_contexts = best.index_contexts;
    out.index_limit = best.limit;
  }
  return out;
}

// What the decoding pass reached.
struct Decoded {
  uint64_t pos = 0;   // Elements written.
  uint64_t ones = 0;  // Weights placed.
  bool mask_finished = false;
  bool index_finished = false;
};

// The decoding pass: each flag, then (for a weight) its index, from the two
// streams. The decoders and the mask state are locals here so that the
// compiler can keep them in registers: behind pointers, every model update
// (a store) would make it reload them.
template <bool kDense>
Decoded DecodeElements(const Layout& l, std::span<const float> codebook,
                       float* dst, uint64_t numel) {
  const int levels = IndexBits(l.centroids);
  const size_t tree = size_t{1} << levels;
  std::vector<BitModel> index_models(tree * IndexSets(l.index_contexts));
  std::vector<BitModel> mask_models(kMaskContexts);
  RangeDecoder mask(l.mask_stream, l.mask_limit);
  RangeDecoder index(l.index_stream, l.index_limit);
  const uint64_t cols = l.row_length;
  MaskState state(numel / cols, cols);
  uint64_t pos = 0;
  for (uint64_t r = 0; pos < numel && state.ones() < l.nonzeros; ++r) {
    state.BeginRow(r);
    bool left_set = false;
    uint32_t left_index = 0;
    for (uint64_t c = 0; c < cols && state.ones() < l.nonzeros; ++c, ++pos) {
      uint32_t bit = 1;
      if constexpr (!kDense) {
        bit = mask.Decode(&mask_models[state.Context(c)]);
      }
      state.Update(c, bit);
      if (bit == 0) {
        dst[pos] = 0.0f;
        left_set = false;
        continue;
      }
      const uint32_t set =
          IndexSet(l.index_contexts, left_set, left_index, l.centroids);
      const uint32_t v =
          DecodeIndex(l.centroids, levels, &index_models[set * tree], &index);
      dst[pos] = codebook[v];
      left_set = true;
      left_index = v;
    }
  }
  return {.pos = pos,
          .ones = state.ones(),
          .mask_finished = kDense || mask.Finish(),
          .index_finished = index.Finish()};
}

}  // namespace

uint64_t DefaultRowLength(std::span<const uint64_t> shape) {
  if (shape.size() <= 1) {
    return shape.empty() ? 1 : std::max<uint64_t>(1, shape[0]);
  }
  uint64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return std::max<uint64_t>(1, n);
}

absl::Status EncodeContextCoded(std::span<const float> values,
                                std::span<const float> codebook,
                                uint64_t row_length, std::string* payload,
                                ContextCodedParts* parts) {
  if (auto s = CheckCodebook(codebook); !s.ok()) return s;
  const uint64_t numel = values.size();
  if (row_length == 0 || (numel > 0 && numel % row_length != 0)) {
    return absl::InvalidArgumentError(absl::StrCat("row length ", row_length,
                                                   " does not divide the ",
                                                   numel, " elements"));
  }
  const std::vector<float> sorted = SortedCodebook(codebook);
  uint64_t nonzeros = 0;
  for (float v : values) nonzeros += v != 0.0f ? 1 : 0;
  auto streams = EncodeStreams(values, sorted, row_length, nonzeros);
  if (!streams.ok()) return streams.status();
  const std::string& mask = streams->mask;
  const std::string& indices = streams->indices;
  const int mask_limit = streams->mask_limit;
  const int index_contexts = streams->index_contexts;
  const int index_limit = streams->index_limit;

  const size_t start = payload->size();
  ByteWriter w(payload);
  w.U8(static_cast<uint8_t>(index_contexts));
  w.U8(static_cast<uint8_t>(mask_limit));
  w.U8(static_cast<uint8_t>(index_limit));
  w.Varint(sorted.size());
  for (float c : sorted) w.F32(c);
  w.Varint(row_length);
  w.Varint(nonzeros);
  w.Varint(mask.size());
  w.Bytes(mask);
  w.Bytes(indices);
  if (parts != nullptr) {
    auto analyzed = AnalyzeContextCoded(
        {reinterpret_cast<const uint8_t*>(payload->data()) + start,
         payload->size() - start},
        numel, "new tensor");
    if (!analyzed.ok()) return analyzed.status();
    *parts = *analyzed;
  }
  return absl::OkStatus();
}

absl::Status DecodeContextCoded(std::span<const uint8_t> payload,
                                std::span<float> out,
                                absl::string_view context) {
  Layout l;
  const uint64_t numel = out.size();
  if (auto s = ParseLayout(payload, numel, context, &l); !s.ok()) return s;
  auto corrupt = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(context, ": ", what));
  };
  float* dst = out.data();
  if (l.nonzeros == 0) {
    if (numel > 0) std::memset(dst, 0, numel * sizeof(float));
    return absl::OkStatus();
  }
  const std::vector<float> codebook = LoadCodebook(l.codebook);
  const Decoded d = l.nonzeros == numel
                        ? DecodeElements<true>(l, codebook, dst, numel)
                        : DecodeElements<false>(l, codebook, dst, numel);
  if (d.pos < numel) {
    std::memset(dst + d.pos, 0, (numel - d.pos) * sizeof(float));
  }
  if (d.ones != l.nonzeros) {
    return corrupt(absl::StrCat("mask stream places ", d.ones,
                                " weights; the header says ", l.nonzeros));
  }
  if (!d.mask_finished) {
    return corrupt("mask stream length disagrees with its contents");
  }
  if (!d.index_finished) {
    return corrupt("index stream length disagrees with its contents");
  }
  return absl::OkStatus();
}

absl::StatusOr<ContextCodedParts> AnalyzeContextCoded(
    std::span<const uint8_t> payload, uint64_t numel,
    absl::string_view context) {
  Layout l;
  if (auto s = ParseLayout(payload, numel, context, &l); !s.ok()) return s;
  ContextCodedParts p;
  p.nonzeros = l.nonzeros;
  p.centroids = l.centroids;
  p.row_length = l.row_length;
  p.index_contexts = l.index_contexts;
  p.mask_limit = l.mask_limit;
  p.index_limit = l.index_limit;
  p.codebook_bytes = l.count_bytes + l.codebook.size();
  p.mask_bytes = l.mask_stream.size();
  p.index_bytes = l.index_stream.size();
  p.other_bytes = l.field_bytes;
  return p;
}

}  // namespace condense::codec
