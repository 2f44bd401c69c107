// Machine-readable output (--output json): protobuf messages in the
// protobuf JSON mapping, with the proto field names and every field present
// (so scripts can rely on `state`, `ratio`, ... existing). Thread-safe.
#ifndef CONDENSE_CLIENT_JSON_OUTPUT_H_
#define CONDENSE_CLIENT_JSON_OUTPUT_H_

#include <string>

#include "google/protobuf/message.h"

namespace condense::client {

enum class JsonStyle { kPretty, kOneLine };

// Never fails for the API's messages; a failure is reported inside the
// returned JSON as {"error": ...} so that pipelines see it.
std::string MessageToJson(const google::protobuf::Message& message,
                          JsonStyle style = JsonStyle::kPretty);

}  // namespace condense::client

#endif  // CONDENSE_CLIENT_JSON_OUTPUT_H_
