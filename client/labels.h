// Parsing of repeated `--label key=value` flags into a label map. Pure
// functions; thread-safe.
#ifndef CONDENSE_CLIENT_LABELS_H_
#define CONDENSE_CLIENT_LABELS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace condense::client {

// "k=v" pairs; the value may be empty and may contain '='. INVALID_ARGUMENT
// for a missing '=', an empty key, or a key given twice.
absl::StatusOr<std::map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& assignments);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_LABELS_H_
