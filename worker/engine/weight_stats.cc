#include "worker/engine/weight_stats.h"

#include <algorithm>
#include <cmath>

namespace condense::engine {

ValueRange RangeOf(std::span<const float> w) {
  if (w.empty()) return {};
  float lo = w[0], hi = w[0];
  for (float v : w) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return {lo, hi};
}

std::vector<int64_t> Histogram(std::span<const float> w, double lo, double hi,
                               int bins, bool nonzero_only) {
  std::vector<int64_t> out(static_cast<size_t>(bins), 0);
  if (!(hi > lo)) return out;
  // Float arithmetic and truncation: a bin per value in a few instructions
  // (this runs over every weight several times per run).
  const auto flo = static_cast<float>(lo);
  const auto scale = static_cast<float>(bins / (hi - lo));
  const int last = bins - 1;
  for (float v : w) {
    if (nonzero_only && v == 0.0f) continue;
    const int b = static_cast<int>(
        (std::clamp(v, flo, static_cast<float>(hi)) - flo) * scale);
    ++out[static_cast<size_t>(std::min(b, last))];
  }
  return out;
}

int64_t CountNonzero(std::span<const float> w) {
  return std::count_if(w.begin(), w.end(), [](float v) { return v != 0.0f; });
}

int64_t GapFillers(std::span<const float> w, int gap_bits) {
  const int64_t filler = (int64_t{1} << gap_bits) - 1;
  if (CountNonzero(w) == static_cast<int64_t>(w.size())) return 0;  // Dense.
  int64_t fillers = 0, cursor = 0;
  for (int64_t pos = 0; pos < static_cast<int64_t>(w.size()); ++pos) {
    if (w[pos] == 0.0f) continue;
    fillers += (pos - cursor) / filler;
    cursor = pos + 1;
  }
  return fillers;
}

}  // namespace condense::engine
