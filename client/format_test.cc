// Formatting of numbers, transfer lines, labels, names and exit codes.
#include "client/format.h"

#include "absl/status/status.h"
#include "client/exit_codes.h"
#include "client/labels.h"
#include "client/resource_names.h"
#include "client/transfer_display.h"
#include "gtest/gtest.h"

namespace condense::client {
namespace {

TEST(FormatBytes, UsesBinaryUnitsWithThreeDigits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.00 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.50 KiB");
  EXPECT_EQ(FormatBytes(int64_t{12} * 1024 * 1024 + 300 * 1024), "12.3 MiB");
  EXPECT_EQ(FormatBytes(int64_t{500} * 1024 * 1024), "500 MiB");
  EXPECT_EQ(FormatBytes(int64_t{3} << 30), "3.00 GiB");
}

TEST(FormatRate, UnknownRatesAreADash) {
  EXPECT_EQ(FormatRate(2048), "2.00 KiB/s");
  EXPECT_EQ(FormatRate(0), "-");
  EXPECT_EQ(FormatRate(-5), "-");
}

TEST(FormatDuration, SecondsMinutesHours) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(42.4), "42s");
  EXPECT_EQ(FormatDuration(185), "3m05s");
  EXPECT_EQ(FormatDuration(3720), "1h02m");
  EXPECT_EQ(FormatDuration(-1), "-");
}

TEST(FormatPercent, NegativeMeansUnknown) {
  EXPECT_EQ(FormatPercent(0.9785), "97.85%");
  EXPECT_EQ(FormatPercent(-1), "-");
}

TEST(RenderBar, FillsInProportionAndClamps) {
  EXPECT_EQ(RenderBar(0.5, 10), "[#####-----]");
  EXPECT_EQ(RenderBar(0, 4), "[----]");
  EXPECT_EQ(RenderBar(1.7, 4), "[####]");
  EXPECT_EQ(RenderBar(-1, 4), "[----]");
  EXPECT_EQ(Fraction(3, 0), 0);
  EXPECT_DOUBLE_EQ(Fraction(1, 4), 0.25);
}

TEST(TransferLine, ShowsBytesRateAndEta) {
  const int64_t mib = 1024 * 1024;
  const std::string line =
      RenderTransferLine("model.pt", 10 * mib, 30 * mib, 5.0 * mib);
  EXPECT_NE(line.find("model.pt"), std::string::npos) << line;
  EXPECT_NE(line.find(" 33%"), std::string::npos) << line;
  EXPECT_NE(line.find("10.0 MiB / 30.0 MiB"), std::string::npos) << line;
  EXPECT_NE(line.find("5.00 MiB/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 4s"), std::string::npos) << line;
  // Before the first rate is known there is no ETA.
  EXPECT_NE(RenderTransferLine("x", 0, 10, 0).find("ETA -"), std::string::npos);
}

TEST(TransferLine, Summary) {
  EXPECT_EQ(RenderTransferSummary("a.bin", 10 * 1024 * 1024, 2),
            "a.bin: 10.0 MiB in 2s (5.00 MiB/s)");
}

TEST(TransferDisplay, PrintsOnlyAFinalLineWhenNotATerminal) {
  std::ostringstream out;
  TransferDisplay display(&out, /*terminal=*/false, "f");
  auto callback = display.Callback();
  callback(5, 10);
  callback(10, 10);
  EXPECT_EQ(out.str(), "");
  display.Finish();
  EXPECT_EQ(out.str().rfind("f: 10 B in ", 0), 0u) << out.str();
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

TEST(TransferDisplay, RedrawsInPlaceOnATerminal) {
  std::ostringstream out;
  TransferDisplay display(&out, /*terminal=*/true, "f");
  auto callback = display.Callback();
  callback(10, 10);
  EXPECT_EQ(out.str().rfind("\r\033[K", 0), 0u);
  EXPECT_NE(out.str().find("100%"), std::string::npos) << out.str();
}

TEST(ParseLabels, ParsesPairs) {
  auto labels = ParseLabels({"team=vision", "note=a=b", "empty="});
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->at("team"), "vision");
  EXPECT_EQ(labels->at("note"), "a=b");
  EXPECT_EQ(labels->at("empty"), "");
}

TEST(ParseLabels, RefusesMalformedAndRepeatedKeys) {
  EXPECT_EQ(ParseLabels({"novalue"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseLabels({"=v"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto twice = ParseLabels({"a=1", "a=2"});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(twice.status().message().find("'a'"), std::string::npos);
}

TEST(FullName, AddsTheCollectionToBareIds) {
  EXPECT_EQ(FullName("jobs", "abc"), "jobs/abc");
  EXPECT_EQ(FullName("jobs", "jobs/abc"), "jobs/abc");
  EXPECT_EQ(FullName("models", "models/x"), "models/x");
  EXPECT_EQ(FullName("jobs", ""), "");
}

TEST(ExitCodes, StatusesMapAsDocumented) {
  EXPECT_EQ(ExitCodeForStatus(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeForStatus(absl::InvalidArgumentError("x")), 2);
  EXPECT_EQ(ExitCodeForStatus(absl::NotFoundError("x")), 2);
  EXPECT_EQ(ExitCodeForStatus(absl::UnavailableError("x")), 5);
  EXPECT_EQ(ExitCodeForStatus(absl::DeadlineExceededError("x")), 5);
  EXPECT_EQ(ExitCodeForStatus(absl::FailedPreconditionError("x")), 1);
  EXPECT_EQ(ExitCodeForStatus(absl::PermissionDeniedError("x")), 1);
  EXPECT_EQ(ExitCodeForStatus(absl::InternalError("x")), 1);
}

TEST(ExitCodes, JobStatesMapAsDocumented) {
  EXPECT_EQ(ExitCodeForJobState(v1::Job::SUCCEEDED), 0);
  EXPECT_EQ(ExitCodeForJobState(v1::Job::FAILED), 3);
  EXPECT_EQ(ExitCodeForJobState(v1::Job::CANCELLED), 4);
  EXPECT_EQ(ExitCodeForJobState(v1::Job::RUNNING), 1);
  const std::string help = ExitCodesHelp();
  for (const char* code : {"0 ", "1 ", "2 ", "3 ", "4 ", "5 "}) {
    EXPECT_NE(help.find(std::string("  ") + code), std::string::npos) << code;
  }
}

}  // namespace
}  // namespace condense::client
