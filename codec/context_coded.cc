#include "codec/context_coded.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codec/byte_io.h"
#include "codec/codebook.h"
#include "codec/parallel.h"
#include "codec/range_coder.h"

namespace condense::codec {
namespace {

// Mask contexts: column history (7) x row density (5) x the weight before
// (2) x nonzeros among the last eight in the row (4).
constexpr int kMaskContexts = 7 * 5 * 2 * 4;
// The model byte: 0 codes every index with one set of tree models; 1 with
// three sets (no weight before it in the row; one in the lower half of the
// codebook; one in the upper half); 2 splits the tensor into segments of
// whole rows, each coded on its own with model 0 or 1.
constexpr uint8_t kSegmentedModel = 2;
// Tensors of at least twice this many elements are split into segments of
// about this many (whole rows; one row at least), so that cores can code
// and decode them side by side. Segments depend on the tensor alone, never
// on the threads at hand, so a file's bytes do not depend on the machine.
// Each segment starts its models afresh: at 4M weights that costs about
// nothing.
constexpr uint64_t kSegmentElements = uint64_t{1} << 22;

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

// One run of whole rows coded on its own: its own models, mask state and
// streams, so that runs can be coded and decoded in parallel.
struct Segment {
  int index_contexts = 0;
  int mask_limit = 0;
  int index_limit = 0;
  uint64_t rows = 0;
  uint64_t nonzeros = 0;
  std::span<const uint8_t> mask_stream;
  std::span<const uint8_t> index_stream;
};

struct Layout {
  uint32_t centroids = 0;
  std::span<const uint8_t> codebook;
  uint64_t row_length = 0;
  uint64_t nonzeros = 0;  // Every segment's.
  std::vector<Segment> segments;
  size_t field_bytes = 0;  // Model byte, row length, counts, lengths.
  size_t count_bytes = 0;  // The centroid count's varint.
};

absl::Status ReadLimit(ByteReader& r, absl::string_view field, int* limit) {
  uint8_t v = 0;
  if (auto s = r.U8(field, &v); !s.ok()) return s;
  if (v < kMinAdaptLimit || v > kMaxAdaptLimit) {
    return r.Corrupt(absl::StrCat(field, " ", v, " outside ", kMinAdaptLimit,
                                  "..", kMaxAdaptLimit));
  }
  *limit = v;
  return absl::OkStatus();
}

absl::Status ReadCodebook(ByteReader& r, Layout* l) {
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
  l->centroids = static_cast<uint32_t>(centroids);
  return absl::OkStatus();
}

absl::Status ReadRowLength(ByteReader& r, uint64_t numel, Layout* l) {
  if (auto s = r.Varint("row length", &l->row_length); !s.ok()) return s;
  if (l->row_length == 0 || (numel > 0 && numel % l->row_length != 0)) {
    return r.Corrupt(absl::StrCat("row length ", l->row_length,
                                  " does not divide the ", numel, " elements"));
  }
  return absl::OkStatus();
}

// A segment's counts against its size; `what` names it in errors.
absl::Status CheckSegment(const ByteReader& r, const Layout& l,
                          const Segment& g, uint64_t mask_len,
                          uint64_t index_len, absl::string_view what) {
  const uint64_t elements = g.rows * l.row_length;
  if (g.nonzeros > elements) {
    return r.Corrupt(absl::StrCat(what, "nonzero count ", g.nonzeros,
                                  " exceeds the ", elements, " elements"));
  }
  const bool mask_coded = g.nonzeros > 0 && g.nonzeros < elements;
  if (!mask_coded && mask_len != 0) {
    return r.Corrupt(
        absl::StrCat(what, "mask stream present where every weight is known"));
  }
  if ((g.nonzeros == 0 || l.centroids == 1) && index_len != 0) {
    return r.Corrupt(
        absl::StrCat(what, "index stream present where no index is coded"));
  }
  return absl::OkStatus();
}

// Models 0 and 1: the whole tensor as one segment, the index stream last.
absl::Status ParseOneSegment(ByteReader& r, uint8_t model, uint64_t numel,
                             Layout* l) {
  Segment g;
  g.index_contexts = model;
  if (auto s = ReadLimit(r, "adaptation limit", &g.mask_limit); !s.ok())
    return s;
  if (auto s = ReadLimit(r, "adaptation limit", &g.index_limit); !s.ok())
    return s;
  if (auto s = ReadCodebook(r, l); !s.ok()) return s;
  if (auto s = ReadRowLength(r, numel, l); !s.ok()) return s;
  g.rows = numel / l->row_length;
  if (auto s = r.Varint("nonzero count", &g.nonzeros); !s.ok()) return s;
  uint64_t mask_len = 0;
  if (auto s = r.Varint("mask stream length", &mask_len); !s.ok()) return s;
  if (auto s = CheckSegment(r, *l, g, mask_len, 0, ""); !s.ok()) return s;
  if (auto s = r.Bytes("mask stream", mask_len, &g.mask_stream); !s.ok())
    return s;
  g.index_stream = r.rest();
  if (auto s = CheckSegment(r, *l, g, 0, g.index_stream.size(), ""); !s.ok()) {
    return s;
  }
  l->segments.push_back(g);
  return absl::OkStatus();
}

// Model 2: a table of segments (whole rows each, in order), then their
// streams.
absl::Status ParseSegments(ByteReader& r, uint64_t numel, Layout* l) {
  if (auto s = ReadCodebook(r, l); !s.ok()) return s;
  if (auto s = ReadRowLength(r, numel, l); !s.ok()) return s;
  const uint64_t rows = numel / l->row_length;
  uint64_t count = 0;
  if (auto s = r.Varint("segment count", &count); !s.ok()) return s;
  // Each entry takes at least seven bytes: a count beyond that is a lie,
  // refused before anything is allocated for it.
  if (count == 0 || count > rows || count > r.remaining() / 7) {
    return r.Corrupt(absl::StrCat("segment count ", count, " outside 1..",
                                  std::min<uint64_t>(rows, r.remaining() / 7)));
  }
  l->segments.resize(count);
  std::vector<std::pair<uint64_t, uint64_t>> lengths(count);
  uint64_t row_sum = 0;
  for (uint64_t k = 0; k < count; ++k) {
    Segment& g = l->segments[k];
    const std::string what = absl::StrCat("segment ", k, ": ");
    if (auto s = r.Varint("segment rows", &g.rows); !s.ok()) return s;
    if (g.rows == 0 || g.rows > rows - row_sum) {
      return r.Corrupt(absl::StrCat(what, g.rows, " rows where ",
                                    rows - row_sum, " remain (at least 1)"));
    }
    row_sum += g.rows;
    uint8_t model = 0;
    if (auto s = r.U8("segment model", &model); !s.ok()) return s;
    if (model > 1) {
      return r.Corrupt(absl::StrCat(what, "index model ", model,
                                    " unknown (0 and 1 are defined)"));
    }
    g.index_contexts = model;
    if (auto s = ReadLimit(r, "adaptation limit", &g.mask_limit); !s.ok())
      return s;
    if (auto s = ReadLimit(r, "adaptation limit", &g.index_limit); !s.ok())
      return s;
    auto& [mask_len, index_len] = lengths[k];
    if (auto s = r.Varint("nonzero count", &g.nonzeros); !s.ok()) return s;
    if (auto s = r.Varint("mask stream length", &mask_len); !s.ok()) return s;
    if (auto s = r.Varint("index stream length", &index_len); !s.ok()) return s;
    if (auto s = CheckSegment(r, *l, g, mask_len, index_len, what); !s.ok())
      return s;
  }
  if (row_sum != rows) {
    return r.Corrupt(
        absl::StrCat("segments cover ", row_sum, " rows of ", rows));
  }
  for (uint64_t k = 0; k < count; ++k) {
    Segment& g = l->segments[k];
    if (auto s = r.Bytes("mask stream", lengths[k].first, &g.mask_stream);
        !s.ok()) {
      return s;
    }
    if (auto s = r.Bytes("index stream", lengths[k].second, &g.index_stream);
        !s.ok()) {
      return s;
    }
  }
  if (r.remaining() != 0) {
    return r.Corrupt(
        absl::StrCat(r.remaining(), " bytes after the last segment's streams"));
  }
  return absl::OkStatus();
}

absl::Status ParseLayout(std::span<const uint8_t> payload, uint64_t numel,
                         absl::string_view context, Layout* l) {
  ByteReader r(payload, context);
  uint8_t model = 0;
  if (auto s = r.U8("model", &model); !s.ok()) return s;
  if (model > kSegmentedModel) {
    return r.Corrupt(absl::StrCat("model ", model,
                                  " unknown (this decoder knows 0, 1 and 2); "
                                  "a newer condense wrote it: upgrade"));
  }
  auto s = model == kSegmentedModel ? ParseSegments(r, numel, l)
                                    : ParseOneSegment(r, model, numel, l);
  if (!s.ok()) return s;
  size_t streams = 0;
  for (const Segment& g : l->segments) {
    l->nonzeros += g.nonzeros;
    streams += g.mask_stream.size() + g.index_stream.size();
  }
  l->field_bytes =
      payload.size() - l->count_bytes - l->codebook.size() - streams;
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

// How a segment's streams are coded: what its header records.
struct Choice {
  int mask_limit = 0;
  int index_contexts = 0;
  int index_limit = 0;
};

// The coded streams of a segment, each the smallest of its candidates.
struct Streams {
  std::string mask;
  std::string indices;
  Choice choice;
};

// Codes the mask and the indices of a segment in one pass over its values:
// each value is read, and its codebook index found, once, however many
// candidates there are. Without `given`, under every candidate limit and
// index model, the index candidates narrowed to the leader after
// kIndexTrialWeights; with it, under that choice alone. `first` is the
// flat position of values[0] in the tensor, for error messages.
absl::StatusOr<Streams> EncodeStreams(std::span<const float> values,
                                      std::span<const float> sorted,
                                      uint64_t cols, uint64_t nonzeros,
                                      const Choice* given, uint64_t first) {
  const uint64_t numel = values.size();
  const std::span<const int> limits =
      given != nullptr ? std::span<const int>(&given->mask_limit, 1)
                       : LimitsToTry(numel);
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
  // stream of a large tensor then holds no doubling slack. Trial candidates
  // reserve for the trial only; the one that goes on, for all.
  auto index_reserve = [&](uint64_t weights) {
    return weights * static_cast<uint64_t>(levels) / 8 + 16;
  };
  Candidates index;
  if (index_coded && given != nullptr) {
    index.push_back(std::make_unique<Candidate>(
        given->index_limit, given->index_contexts,
        tree * IndexSets(given->index_contexts), index_reserve(nonzeros)));
  } else if (index_coded) {
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
    if (found < 0) return NotInCodebookError(value, first + pos);
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
  out.choice = {limits[0], 0, limits[0]};
  if (given != nullptr) out.choice = *given;
  if (!mask.empty()) {
    for (auto& m : mask) m->enc.Finish();
    Candidate& best = Smallest(mask);
    out.mask = std::move(best.out);
    out.choice.mask_limit = best.limit;
  }
  if (!index.empty()) {
    for (auto& k : index) k->enc.Finish();
    Candidate& best = Smallest(index);
    out.indices = std::move(best.out);
    out.choice.index_contexts = best.index_contexts;
    out.choice.index_limit = best.limit;
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
Decoded DecodeElements(const Segment& g, uint32_t centroids, uint64_t cols,
                       std::span<const float> codebook, float* dst) {
  const uint64_t numel = g.rows * cols;
  const int levels = IndexBits(centroids);
  const size_t tree = size_t{1} << levels;
  std::vector<BitModel> index_models(tree * IndexSets(g.index_contexts));
  std::vector<BitModel> mask_models(kMaskContexts);
  RangeDecoder mask(g.mask_stream, g.mask_limit);
  RangeDecoder index(g.index_stream, g.index_limit);
  MaskState state(g.rows, cols);
  uint64_t pos = 0;
  for (uint64_t r = 0; pos < numel && state.ones() < g.nonzeros; ++r) {
    state.BeginRow(r);
    bool left_set = false;
    uint32_t left_index = 0;
    for (uint64_t c = 0; c < cols && state.ones() < g.nonzeros; ++c, ++pos) {
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
          IndexSet(g.index_contexts, left_set, left_index, centroids);
      const uint32_t v =
          DecodeIndex(centroids, levels, &index_models[set * tree], &index);
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

namespace {

// Rows per segment for a tensor of `numel` elements in rows of `cols`; 0
// when it is coded whole.
uint64_t SegmentRows(uint64_t numel, uint64_t cols) {
  if (numel < 2 * kSegmentElements || numel / cols < 2) return 0;
  return std::max<uint64_t>(1, kSegmentElements / cols);
}

// The first segment's choice, for the rest. A stream it did not code (a
// dense or empty segment) falls back to the middle limit and, for indices,
// the richer model where there is one.
Choice ChoiceForTheRest(const Streams& first, uint32_t centroids) {
  Choice c = first.choice;
  if (first.mask.empty()) c.mask_limit = kLimits[1];
  if (first.indices.empty()) {
    c.index_contexts = centroids > 2 ? 1 : 0;
    c.index_limit = kLimits[1];
  }
  return c;
}

// The segmented body (model 2): the first segment tries every candidate and
// the others go on with its choice, side by side on `threads` threads.
absl::Status EncodeSegments(std::span<const float> values,
                            std::span<const float> sorted, uint64_t cols,
                            uint64_t segment_rows, int threads,
                            std::string* payload) {
  const uint64_t rows = values.size() / cols;
  const uint64_t count = (rows + segment_rows - 1) / segment_rows;
  std::vector<absl::StatusOr<Streams>> streams(count);
  std::vector<uint64_t> nonzeros(count);
  auto segment_values = [&](uint64_t k) {
    const uint64_t first = k * segment_rows;
    return values.subspan(
        first * cols, (std::min(rows, first + segment_rows) - first) * cols);
  };
  auto encode = [&](uint64_t k, const Choice* given) {
    const std::span<const float> v = segment_values(k);
    nonzeros[k] = CountNonzeros(v);
    streams[k] = EncodeStreams(v, sorted, cols, nonzeros[k], given,
                               k * segment_rows * cols);
  };
  encode(0, nullptr);
  if (!streams[0].ok()) return streams[0].status();
  const Choice rest =
      ChoiceForTheRest(*streams[0], static_cast<uint32_t>(sorted.size()));
  ParallelFor(count - 1, threads, [&](size_t k) { encode(k + 1, &rest); });
  uint64_t stream_bytes = 0;
  for (const auto& st : streams) {
    if (!st.ok()) return st.status();
    stream_bytes += st->mask.size() + st->indices.size();
  }
  ByteWriter w(payload);
  w.U8(kSegmentedModel);
  w.Varint(sorted.size());
  for (float c : sorted) w.F32(c);
  w.Varint(cols);
  w.Varint(count);
  for (uint64_t k = 0; k < count; ++k) {
    const Streams& st = *streams[k];
    w.Varint(segment_values(k).size() / cols);
    w.U8(static_cast<uint8_t>(st.choice.index_contexts));
    w.U8(static_cast<uint8_t>(st.choice.mask_limit));
    w.U8(static_cast<uint8_t>(st.choice.index_limit));
    w.Varint(nonzeros[k]);
    w.Varint(st.mask.size());
    w.Varint(st.indices.size());
  }
  payload->reserve(payload->size() + stream_bytes);
  for (auto& st : streams) {
    w.Bytes(st->mask);
    w.Bytes(st->indices);
    *st = Streams{};  // Give the memory back as the payload grows.
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EncodeContextCoded(std::span<const float> values,
                                std::span<const float> codebook,
                                uint64_t row_length, std::string* payload,
                                ContextCodedParts* parts, int threads) {
  if (auto s = CheckCodebook(codebook); !s.ok()) return s;
  const uint64_t numel = values.size();
  if (row_length == 0 || (numel > 0 && numel % row_length != 0)) {
    return absl::InvalidArgumentError(absl::StrCat("row length ", row_length,
                                                   " does not divide the ",
                                                   numel, " elements"));
  }
  const std::vector<float> sorted = SortedCodebook(codebook);
  const size_t start = payload->size();
  if (const uint64_t segment_rows = SegmentRows(numel, row_length);
      segment_rows > 0) {
    if (auto s = EncodeSegments(values, sorted, row_length, segment_rows,
                                threads, payload);
        !s.ok()) {
      return s;
    }
  } else {
    const uint64_t nonzeros = CountNonzeros(values);
    auto streams =
        EncodeStreams(values, sorted, row_length, nonzeros, nullptr, 0);
    if (!streams.ok()) return streams.status();
    ByteWriter w(payload);
    w.U8(static_cast<uint8_t>(streams->choice.index_contexts));
    w.U8(static_cast<uint8_t>(streams->choice.mask_limit));
    w.U8(static_cast<uint8_t>(streams->choice.index_limit));
    w.Varint(sorted.size());
    for (float c : sorted) w.F32(c);
    w.Varint(row_length);
    w.Varint(nonzeros);
    w.Varint(streams->mask.size());
    w.Bytes(streams->mask);
    w.Bytes(streams->indices);
  }
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
                                std::span<float> out, absl::string_view context,
                                int threads) {
  Layout l;
  const uint64_t numel = out.size();
  if (auto s = ParseLayout(payload, numel, context, &l); !s.ok()) return s;
  if (l.nonzeros == 0) {
    if (numel > 0) std::memset(out.data(), 0, numel * sizeof(float));
    return absl::OkStatus();
  }
  const std::vector<float> codebook = LoadCodebook(l.codebook);
  const size_t count = l.segments.size();
  std::vector<uint64_t> first(count, 0);  // Each segment's first element.
  for (size_t k = 1; k < count; ++k) {
    first[k] = first[k - 1] + l.segments[k - 1].rows * l.row_length;
  }
  std::vector<absl::Status> status(count);
  ParallelFor(count, threads, [&](size_t k) {
    const Segment& g = l.segments[k];
    const uint64_t elements = g.rows * l.row_length;
    float* dst = out.data() + first[k];
    Decoded d;
    if (g.nonzeros > 0) {
      d = g.nonzeros == elements
              ? DecodeElements<true>(g, l.centroids, l.row_length, codebook,
                                     dst)
              : DecodeElements<false>(g, l.centroids, l.row_length, codebook,
                                      dst);
    } else {
      d.mask_finished = d.index_finished = true;
    }
    if (d.pos < elements) {
      std::memset(dst + d.pos, 0, (elements - d.pos) * sizeof(float));
    }
    std::string what(context);
    if (count > 1) absl::StrAppend(&what, ": segment ", k);
    if (d.ones != g.nonzeros) {
      status[k] = absl::DataLossError(
          absl::StrCat(what, ": mask stream places ", d.ones,
                       " weights; the header says ", g.nonzeros));
    } else if (!d.mask_finished) {
      status[k] = absl::DataLossError(absl::StrCat(
          what, ": mask stream length disagrees with its contents"));
    } else if (!d.index_finished) {
      status[k] = absl::DataLossError(absl::StrCat(
          what, ": index stream length disagrees with its contents"));
    }
  });
  for (const absl::Status& s : status) {
    if (!s.ok()) return s;
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
  p.segments = l.segments.size();
  p.index_contexts = l.segments.front().index_contexts;
  p.mask_limit = l.segments.front().mask_limit;
  p.index_limit = l.segments.front().index_limit;
  p.codebook_bytes = l.count_bytes + l.codebook.size();
  for (const Segment& g : l.segments) {
    p.mask_bytes += g.mask_stream.size();
    p.index_bytes += g.index_stream.size();
  }
  p.other_bytes = l.field_bytes;
  return p;
}

}  // namespace condense::codec
