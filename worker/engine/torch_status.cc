#include "worker/engine/torch_status.h"

namespace condense::engine {

std::string TorchMessage(const c10::Error& e) {
  // what_without_backtrace() still ends with "Exception raised from ..."
  // lines on some builds; keep the message proper.
  std::string msg = e.what_without_backtrace();
  if (auto pos = msg.find("\nException raised from");
      pos != std::string::npos) {
    msg.resize(pos);
  }
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) {
    msg.pop_back();
  }
  return msg;
}

std::string LastLine(const std::string& message) {
  size_t end = message.find_last_not_of("\n ");
  if (end == std::string::npos) return message;
  size_t start = message.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return message.substr(start, end - start + 1);
}

}  // namespace condense::engine
