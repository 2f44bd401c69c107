// The one mapping from absl::Status (used everywhere inside) to grpc::Status
// (at the API edge, in the server and its clients). Codes map one to one; the
// message is kept.
#ifndef CONDENSE_PROTO_GRPC_STATUS_H_
#define CONDENSE_PROTO_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace condense::api {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace condense::api

#endif  // CONDENSE_PROTO_GRPC_STATUS_H_
