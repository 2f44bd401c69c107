#include "client/format.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace condense::client {

std::string FormatBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024 && bytes > -1024) return absl::StrFormat("%d B", bytes);
  double value = static_cast<double>(bytes);
  int unit = -1;
  while ((value >= 1024 || value <= -1024) && unit < 4) {
    value /= 1024;
    ++unit;
  }
  // Three significant digits, as people read sizes.
  if (std::abs(value) < 10)
    return absl::StrFormat("%.2f %s", value, kUnits[unit]);
  if (std::abs(value) < 100)
    return absl::StrFormat("%.1f %s", value, kUnits[unit]);
  return absl::StrFormat("%.0f %s", value, kUnits[unit]);
}

std::string FormatRate(double bytes_per_second) {
  if (!std::isfinite(bytes_per_second) || bytes_per_second <= 0) return "-";
  return FormatBytes(static_cast<int64_t>(bytes_per_second)) + "/s";
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return absl::StrFormat("%ds", s);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

std::string FormatPercent(double fraction) {
  if (!std::isfinite(fraction) || fraction < 0) return "-";
  return absl::StrFormat("%.2f%%", 100.0 * fraction);
}

std::string RenderBar(double fraction, int width) {
  if (!std::isfinite(fraction)) fraction = 0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  width = std::max(width, 1);
  const int filled = static_cast<int>(std::floor(fraction * width));
  // Built in place: GCC 12 warns (-Wrestrict, a false positive) on the
  // chain of string concatenations this was.
  std::string bar(static_cast<size_t>(width) + 2, '-');
  bar.front() = '[';
  bar.back() = ']';
  std::fill_n(bar.begin() + 1, filled, '#');
  return bar;
}

double Fraction(int64_t done, int64_t total) {
  if (total <= 0) return 0;
  return static_cast<double>(done) / static_cast<double>(total);
}

}  // namespace condense::client
