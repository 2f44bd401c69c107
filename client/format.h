// Human-readable numbers for the CLI: byte counts, transfer rates,
// durations and text progress bars. Pure functions; thread-safe.
#ifndef CONDENSE_CLIENT_FORMAT_H_
#define CONDENSE_CLIENT_FORMAT_H_

#include <cstdint>
#include <string>

namespace condense::client {

// Binary units: "512 B", "1.5 KiB", "12.3 MiB", "2.00 GiB".
std::string FormatBytes(int64_t bytes);

// "12.3 MiB/s"; "-" when the rate is not known (<= 0 or not finite).
std::string FormatRate(double bytes_per_second);

// "42s", "3m05s", "1h02m"; "-" when unknown (negative or not finite).
std::string FormatDuration(double seconds);

// A fraction as "45.6%"; "-" when negative (the API's "not known yet").
std::string FormatPercent(double fraction);

// "[#####-----]" with `width` cells between the brackets; the fraction is
// clamped to [0, 1].
std::string RenderBar(double fraction, int width);

// done / total, 0 when the total is not known.
double Fraction(int64_t done, int64_t total);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_FORMAT_H_
