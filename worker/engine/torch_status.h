// The LibTorch edge: runs a function that may throw c10::Error (or any
// std::exception) and returns its result as an absl::Status with the first
// line of LibTorch's message, prefixed by what was being done.
#ifndef CONDENSE_WORKER_ENGINE_TORCH_STATUS_H_
#define CONDENSE_WORKER_ENGINE_TORCH_STATUS_H_

#include <exception>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/engine/torch_includes.h"

namespace condense::engine {

// LibTorch messages carry a C++ backtrace after the first lines; users need
// the message only.
std::string TorchMessage(const c10::Error& e);
// The last non-empty line: for TorchScript interpreter errors, whose
// message is a script traceback ending in "RuntimeError: <what>".
std::string LastLine(const std::string& message);

template <typename Fn>
absl::Status TorchCall(absl::string_view what, Fn&& fn,
                       absl::StatusCode code = absl::StatusCode::kInternal) {
  try {
    return std::forward<Fn>(fn)();
  } catch (const c10::Error& e) {
    return absl::Status(code, absl::StrCat(what, ": ", TorchMessage(e)));
  } catch (const std::exception& e) {
    return absl::Status(code, absl::StrCat(what, ": ", e.what()));
  }
}

}  // namespace condense::engine

#endif  // CONDENSE_WORKER_ENGINE_TORCH_STATUS_H_
