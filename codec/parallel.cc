#include "codec/parallel.h"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

namespace condense::codec {

void ParallelFor(size_t count, int threads,
                 const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto drain = [&] {
    for (size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
      fn(i);
    }
  };
  const size_t helpers = threads > 1 && count > 1
                             ? std::min(count, static_cast<size_t>(threads)) - 1
                             : 0;
  std::vector<std::jthread> pool;
  pool.reserve(helpers);
  for (size_t t = 0; t < helpers; ++t) {
    try {
      pool.emplace_back(drain);
    } catch (const std::system_error&) {
      break;  // Fewer threads: the ones started and this one do the rest.
    }
  }
  drain();
}  // The jthreads join here.

}  // namespace condense::codec
