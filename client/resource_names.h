// Lets people type "abc" where the API wants "jobs/abc" (or models/,
// datasets/). Pure; thread-safe.
#ifndef CONDENSE_CLIENT_RESOURCE_NAMES_H_
#define CONDENSE_CLIENT_RESOURCE_NAMES_H_

#include <string>

#include "absl/strings/string_view.h"

namespace condense::client {

// "abc" -> "{collection}/abc"; a name that already has a '/' is kept (the
// server says NOT_FOUND if it names the wrong collection).
std::string FullName(absl::string_view collection, absl::string_view name);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_RESOURCE_NAMES_H_
