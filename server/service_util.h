// Small helpers shared by the gRPC service adapters.
#ifndef CONDENSE_SERVER_SERVICE_UTIL_H_
#define CONDENSE_SERVER_SERVICE_UTIL_H_

#include <utility>

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "proto/grpc_status.h"

namespace condense::server {

// Runs `body` (returning absl::Status) and finishes the call with its
// status. For unary methods that do not wait.
template <typename Body>
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      Body&& body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = std::forward<Body>(body)();
  reactor->Finish(api::ToGrpcStatus(status));
  return reactor;
}

}  // namespace condense::server

#endif  // CONDENSE_SERVER_SERVICE_UTIL_H_
