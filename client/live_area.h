// A block of lines at the bottom of a terminal, redrawn in place with ANSI
// escapes, with log lines scrolling above it. Used by `condense watch` when
// stdout is a terminal. Not thread-safe.
#ifndef CONDENSE_CLIENT_LIVE_AREA_H_
#define CONDENSE_CLIENT_LIVE_AREA_H_

#include <ostream>
#include <string>
#include <vector>

namespace condense::client {

class LiveArea {
 public:
  explicit LiveArea(std::ostream* out) : out_(out) {}

  // Replaces the block with `lines`.
  void Draw(const std::vector<std::string>& lines);
  // Prints `line` above the block (which is redrawn below it).
  void Log(const std::string& line);
  // Leaves the block as it is and moves below it; later output scrolls.
  void Close();

 private:
  void Erase();

  std::ostream* out_;
  std::vector<std::string> lines_;
  int drawn_ = 0;  // Lines of the block on screen now.
};

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_LIVE_AREA_H_
