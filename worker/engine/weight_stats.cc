#include "worker/engine/weight_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "codec/parallel.h"

namespace condense::engine {

namespace {

// Pieces of a large span that threads take in turn; results are merged in
// order, and every merge here is exact, so they do not depend on threads.
constexpr size_t kChunk = size_t{1} << 22;

size_t Chunks(size_t n, int threads) {
  return threads > 1 && n >= 2 * kChunk ? (n + kChunk - 1) / kChunk : 1;
}

std::span<const float> ChunkOf(std::span<const float> w, size_t chunks,
                               size_t k) {
  if (chunks == 1) return w;
  const size_t first = k * kChunk;
  return w.subspan(first, std::min(kChunk, w.size() - first));
}

}  // namespace

ValueRange RangeOf(std::span<const float> w, int threads) {
  if (w.empty()) return {};
  const size_t chunks = Chunks(w.size(), threads);
  // The first chunk starts from the first value, the others from +-inf:
  // the same result as one pass, NaNs included.
  std::vector<float> lo(chunks, std::numeric_limits<float>::infinity());
  std::vector<float> hi(chunks, -std::numeric_limits<float>::infinity());
  lo[0] = hi[0] = w[0];
  codec::ParallelFor(chunks, threads, [&](size_t k) {
    float l = lo[k], h = hi[k];
    for (float v : ChunkOf(w, chunks, k)) {
      l = std::min(l, v);
      h = std::max(h, v);
    }
    lo[k] = l;
    hi[k] = h;
  });
  float l = lo[0], h = hi[0];
  for (size_t k = 1; k < chunks; ++k) {
    l = std::min(l, lo[k]);
    h = std::max(h, hi[k]);
  }
  return {l, h};
}

std::vector<int64_t> Histogram(std::span<const float> w, double lo, double hi,
                               int bins, bool nonzero_only, int threads) {
  std::vector<int64_t> out(static_cast<size_t>(bins), 0);
  if (!(hi > lo)) return out;
  // Float arithmetic and truncation: a bin per value in a few instructions
  // (this runs over every weight several times per run).
  const auto flo = static_cast<float>(lo);
  const auto scale = static_cast<float>(bins / (hi - lo));
  const int last = bins - 1;
  const size_t chunks = Chunks(w.size(), threads);
  std::vector<std::vector<int64_t>> counts(
      chunks, std::vector<int64_t>(static_cast<size_t>(bins), 0));
  codec::ParallelFor(chunks, threads, [&](size_t k) {
    std::vector<int64_t>& c = counts[k];
    for (float v : ChunkOf(w, chunks, k)) {
      if (nonzero_only && v == 0.0f) continue;
      const int b = static_cast<int>(
          (std::clamp(v, flo, static_cast<float>(hi)) - flo) * scale);
      ++c[static_cast<size_t>(std::min(b, last))];
    }
  });
  for (const std::vector<int64_t>& c : counts) {
    for (size_t b = 0; b < out.size(); ++b) out[b] += c[b];
  }
  return out;
}

int64_t CountNonzero(std::span<const float> w, int threads) {
  const size_t chunks = Chunks(w.size(), threads);
  std::vector<int64_t> counts(chunks, 0);
  codec::ParallelFor(chunks, threads, [&](size_t k) {
    const std::span<const float> c = ChunkOf(w, chunks, k);
    counts[k] =
        std::count_if(c.begin(), c.end(), [](float v) { return v != 0.0f; });
  });
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  return n;
}

int64_t GapFillers(std::span<const float> w, int gap_bits, int threads) {
  const int64_t filler = (int64_t{1} << gap_bits) - 1;
  if (CountNonzero(w, threads) == static_cast<int64_t>(w.size())) {
    return 0;  // Dense.
  }
  // Per chunk: the fillers of the gaps inside it, and where its first and
  // last nonzero are; the gaps between chunks are added in order after.
  struct Part {
    int64_t fillers = 0;
    int64_t first = -1;  // Absolute positions; -1: no nonzero.
    int64_t last = -1;
  };
  const size_t chunks = Chunks(w.size(), threads);
  std::vector<Part> parts(chunks);
  codec::ParallelFor(chunks, threads, [&](size_t k) {
    const auto base = static_cast<int64_t>(chunks == 1 ? 0 : k * kChunk);
    const std::span<const float> c = ChunkOf(w, chunks, k);
    Part& p = parts[k];
    for (int64_t i = 0; i < static_cast<int64_t>(c.size()); ++i) {
      if (c[static_cast<size_t>(i)] == 0.0f) continue;
      const int64_t pos = base + i;
      if (p.first < 0) {
        p.first = pos;
      } else {
        p.fillers += (pos - p.last - 1) / filler;
      }
      p.last = pos;
    }
  });
  int64_t fillers = 0;
  int64_t cursor = 0;  // One past the last nonzero so far.
  for (const Part& p : parts) {
    if (p.first < 0) continue;
    fillers += (p.first - cursor) / filler + p.fillers;
    cursor = p.last + 1;
  }
  return fillers;
}

}  // namespace condense::engine
