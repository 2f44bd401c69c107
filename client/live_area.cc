#include "client/live_area.h"

namespace condense::client {

void LiveArea::Erase() {
  // Up to the block's first line, then clear to the end of the screen.
  if (drawn_ > 0) *out_ << "\033[" << drawn_ << "F\033[J";
  drawn_ = 0;
}

void LiveArea::Draw(const std::vector<std::string>& lines) {
  Erase();
  lines_ = lines;
  for (const std::string& line : lines_) *out_ << line << "\n";
  drawn_ = static_cast<int>(lines_.size());
  out_->flush();
}

void LiveArea::Log(const std::string& line) {
  Erase();
  *out_ << line << "\n";
  for (const std::string& l : lines_) *out_ << l << "\n";
  drawn_ = static_cast<int>(lines_.size());
  out_->flush();
}

void LiveArea::Close() {
  drawn_ = 0;
  lines_.clear();
  out_->flush();
}

}  // namespace condense::client
