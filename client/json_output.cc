#include "client/json_output.h"

#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace condense::client {

std::string MessageToJson(const google::protobuf::Message& message,
                          JsonStyle style) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = style == JsonStyle::kPretty;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    nlohmann::json error = {
        {"error", static_cast<std::string>(status.message())}};
    return error.dump();
  }
  // add_whitespace ends with a newline, one-line output does not: make both
  // end without one so that callers decide.
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace condense::client
