#include "codec/parallel.h"

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace condense::codec {
namespace {

TEST(ParallelFor, CallsEachIndexOnceOnEveryThreadCount) {
  for (size_t count : {0u, 1u, 2u, 5u, 1000u}) {
    for (int threads : {-1, 0, 1, 2, 4, 64}) {
      std::vector<std::atomic<int>> calls(count);
      ParallelFor(count, threads, [&](size_t i) { ++calls[i]; });
      for (size_t i = 0; i < count; ++i) {
        EXPECT_EQ(calls[i].load(), 1) << "index " << i << " of " << count
                                      << ", " << threads << " threads";
      }
    }
  }
}

TEST(ParallelFor, OneThreadRunsOnTheCaller) {
  std::set<std::thread::id> seen;
  ParallelFor(10, 1, [&](size_t) { seen.insert(std::this_thread::get_id()); });
  EXPECT_EQ(seen, std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST(ParallelFor, UsesNoMoreThreadsThanAskedFor) {
  std::mutex mu;
  std::set<std::thread::id> seen;
  ParallelFor(200, 3, [&](size_t) {
    std::lock_guard lock(mu);
    seen.insert(std::this_thread::get_id());
  });
  EXPECT_GE(seen.size(), 1u);
  EXPECT_LE(seen.size(), 3u);
}

}  // namespace
}  // namespace condense::codec
