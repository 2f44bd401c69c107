// Running independent pieces of work on a few threads: the codec's only
// concurrency, for the segments of a large context-coded tensor.
#ifndef CONDENSE_CODEC_PARALLEL_H_
#define CONDENSE_CODEC_PARALLEL_H_

#include <cstddef>
#include <functional>

namespace condense::codec {

// Calls fn(i) once for each i in [0, count), on the calling thread and up to
// threads - 1 others, each taking the next undone i. Returns when every call
// has returned. Runs on the calling thread alone when threads <= 1, when
// count < 2 or when no thread can be started. fn must be safe to call
// concurrently for different i and must not throw.
void ParallelFor(size_t count, int threads,
                 const std::function<void(size_t)>& fn);

}  // namespace condense::codec

#endif  // CONDENSE_CODEC_PARALLEL_H_
