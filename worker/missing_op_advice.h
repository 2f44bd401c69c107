// What a user whose model calls an op the workers' LibTorch lacks can do:
// one text for the server's check at upload and the worker's at load.
// Thread-safe.
#ifndef CONDENSE_WORKER_MISSING_OP_ADVICE_H_
#define CONDENSE_WORKER_MISSING_OP_ADVICE_H_

#include <string>
#include <string_view>

namespace condense::worker {

// `version`: the LibTorch that lacks the op ("1.13.0").
std::string MissingOpAdvice(std::string_view version);

}  // namespace condense::worker

#endif  // CONDENSE_WORKER_MISSING_OP_ADVICE_H_
