#include "client/resource_names.h"

#include "absl/strings/str_cat.h"

namespace condense::client {

std::string FullName(absl::string_view collection, absl::string_view name) {
  if (name.empty() || name.find('/') != absl::string_view::npos) {
    return static_cast<std::string>(name);
  }
  return absl::StrCat(collection, "/", name);
}

}  // namespace condense::client
