#include "server/metrics/registry.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/metrics/text_format.h"

namespace condense::metrics {
namespace {

using ::testing::HasSubstr;

TEST(RegistryTest, SerializesSmallRegistryExactly) {
  Registry registry;
  Family<Counter>& requests = registry.AddCounter(
      "test_requests_total", "Requests served.", {"method", "code"});
  Family<Gauge>& depth =
      registry.AddGauge("test_queue_depth", "Jobs waiting.", {});
  Family<Histogram>& latency = registry.AddHistogram(
      "test_latency_seconds", "Request latency.", {"method"}, {0.1, 1});

  requests.WithLabels({"get", "200"}).Increment();
  requests.WithLabels({"get", "200"}).Add(2);
  requests.WithLabels({"put", "500"}).Increment();
  depth.WithLabels({}).Set(7.5);
  latency.WithLabels({"get"}).Observe(0.05);
  latency.WithLabels({"get"}).Observe(0.5);
  latency.WithLabels({"get"}).Observe(3);

  EXPECT_EQ(registry.Serialize(),
            "# HELP test_latency_seconds Request latency.\n"
            "# TYPE test_latency_seconds histogram\n"
            "test_latency_seconds_bucket{method=\"get\",le=\"0.1\"} 1\n"
            "test_latency_seconds_bucket{method=\"get\",le=\"1\"} 2\n"
            "test_latency_seconds_bucket{method=\"get\",le=\"+Inf\"} 3\n"
            "test_latency_seconds_sum{method=\"get\"} 3.55\n"
            "test_latency_seconds_count{method=\"get\"} 3\n"
            "# HELP test_queue_depth Jobs waiting.\n"
            "# TYPE test_queue_depth gauge\n"
            "test_queue_depth 7.5\n"
            "# HELP test_requests_total Requests served.\n"
            "# TYPE test_requests_total counter\n"
            "test_requests_total{method=\"get\",code=\"200\"} 3\n"
            "test_requests_total{method=\"put\",code=\"500\"} 1\n");
}

TEST(RegistryTest, HandlesAreStable) {
  Registry registry;
  Family<Counter>& family = registry.AddCounter("a_total", "A.", {"k"});
  Counter* first = &family.WithLabels({"x"});
  for (int i = 0; i < 100; ++i) family.WithLabels({std::to_string(i)});
  EXPECT_EQ(first, &family.WithLabels({"x"}));
}

TEST(RegistryTest, EscapesHelpAndLabelValues) {
  Registry registry;
  registry.AddGauge("esc", "back\\slash\nnew \"quoted\"", {"v"})
      .WithLabels({"a\\b\"c\nd"})
      .Set(1);
  EXPECT_EQ(registry.Serialize(),
            "# HELP esc back\\\\slash\\nnew \"quoted\"\n"
            "# TYPE esc gauge\n"
            "esc{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(RegistryTest, HistogramBucketsAreCumulative) {
  Registry registry;
  Histogram& histogram =
      registry.AddHistogram("h", "H.", {}, {1, 2, 4}).WithLabels({});
  for (double v : {0.5, 1.0, 1.5, 3.0, 3.5, 100.0, 2.0}) histogram.Observe(v);
  Histogram::Snapshot snap = histogram.Collect();
  // le is inclusive: 1.0 falls in le="1", 2.0 in le="2".
  EXPECT_EQ(snap.cumulative_counts, (std::vector<uint64_t>{2, 4, 6, 7}));
  EXPECT_EQ(snap.count, 7u);
  EXPECT_DOUBLE_EQ(snap.sum, 111.5);
  EXPECT_THAT(registry.Serialize(), HasSubstr("h_bucket{le=\"+Inf\"} 7\n"));
}

TEST(RegistryTest, TrailingInfBoundIsDropped) {
  Registry registry;
  registry.AddHistogram("h", "H.", {},
                        {1, std::numeric_limits<double>::infinity()});
  const std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("h_bucket{le=\"1\"} 0\n"));
  EXPECT_EQ(text.find("+Inf"), text.rfind("+Inf"));  // Only one +Inf bucket.
}

TEST(RegistryTest, ConcurrentUpdatesSumCorrectly) {
  Registry registry;
  Family<Counter>& counters = registry.AddCounter("c_total", "C.", {"k"});
  Family<Gauge>& gauges = registry.AddGauge("g", "G.", {});
  Family<Histogram>& histograms = registry.AddHistogram("h", "H.", {}, {0.5});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counters.WithLabels({t % 2 == 0 ? "even" : "odd"}).Increment();
        gauges.WithLabels({}).Add(1);
        histograms.WithLabels({}).Observe(i % 2);
        if (i % 1000 == 0) registry.Serialize();  // Scrapes race updates.
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(counters.WithLabels({"even"}).Value(), kThreads / 2 * kPerThread);
  EXPECT_EQ(counters.WithLabels({"odd"}).Value(), kThreads / 2 * kPerThread);
  EXPECT_EQ(gauges.WithLabels({}).Value(), kThreads * kPerThread);
  Histogram::Snapshot snap = histograms.WithLabels({}).Collect();
  EXPECT_EQ(snap.count, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(snap.cumulative_counts[0],
            static_cast<uint64_t>(kThreads * kPerThread / 2));
}

TEST(RegistryTest, CounterIgnoresNegativeAndNaN) {
  Registry registry;
  Counter& counter = registry.AddCounter("c_total", "C.", {}).WithLabels({});
  counter.Add(2);
  counter.Add(-1);
  counter.Add(std::nan(""));
  EXPECT_EQ(counter.Value(), 2);
}

TEST(RegistryTest, CollectorsRunAtScrapeTime) {
  Registry registry;
  int scrapes = 0;
  registry.AddGaugeCollector("jobs", "Jobs by state.", {"state"}, [&] {
    ++scrapes;
    return std::vector<CollectedSample>{
        {{"QUEUED"}, static_cast<double>(scrapes)},
        {{"RUNNING", "extra"}, 9},  // Wrong label count: dropped.
    };
  });
  registry.AddCounterCollector("bytes_total", "Bytes.", {}, [] {
    return std::vector<CollectedSample>{{{}, 1e6}};
  });
  EXPECT_EQ(scrapes, 0);
  registry.Serialize();
  EXPECT_EQ(registry.Serialize(),
            "# HELP bytes_total Bytes.\n"
            "# TYPE bytes_total counter\n"
            "bytes_total 1e+06\n"
            "# HELP jobs Jobs by state.\n"
            "# TYPE jobs gauge\n"
            "jobs{state=\"QUEUED\"} 2\n");
}

TEST(TextFormatTest, FormatsDoubles) {
  EXPECT_EQ(FormatDouble(0), "0");
  EXPECT_EQ(FormatDouble(-2.5), "-2.5");
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(FormatDouble(123456789), "123456789");
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatDouble(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatDouble(std::nan("")), "NaN");
}

TEST(TextFormatTest, ValidatesNames) {
  EXPECT_TRUE(ValidateMetricName("condense_jobs_total").ok());
  EXPECT_TRUE(ValidateMetricName("_x9").ok());
  EXPECT_FALSE(ValidateMetricName("").ok());
  EXPECT_FALSE(ValidateMetricName("9x").ok());
  EXPECT_FALSE(ValidateMetricName("a-b").ok());
  EXPECT_FALSE(ValidateMetricName("a:b").ok());
  EXPECT_TRUE(ValidateLabelName("grpc_code").ok());
  EXPECT_FALSE(ValidateLabelName("__name__").ok());
  EXPECT_FALSE(ValidateLabelName("a.b").ok());
}

TEST(RegistryDeathTest, RejectsBadRegistrations) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Registry registry;
  EXPECT_DEATH(registry.AddGauge("bad-name", "x", {}), "bad-name");
  EXPECT_DEATH(registry.AddGauge("ok", "x", {"bad label"}), "bad label");
  EXPECT_DEATH(registry.AddCounter("requests", "x", {}), "_total");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {"le"}, {1}), "le");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {}, {2, 1}), "ascending");
  registry.AddGauge("twice", "x", {"a"});
  EXPECT_DEATH(registry.AddGauge("twice", "x", {}), "registered twice");
  Family<Gauge>& family = registry.AddGauge("two", "x", {"a", "b"});
  EXPECT_DEATH(family.WithLabels({"only one"}), "2 labels");
}

}  // namespace
}  // namespace condense::metrics
