// gRPC server metrics in the names and labels of go-grpc-prometheus, so that
// existing dashboards work:
//
//   grpc_server_started_total        {grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total        {grpc_type,grpc_service,grpc_method,
//                                     grpc_code}
//   grpc_server_msg_received_total   {grpc_type,grpc_service,grpc_method}
//   grpc_server_msg_sent_total       {grpc_type,grpc_service,grpc_method}
//   grpc_server_handling_seconds     {grpc_type,grpc_service,grpc_method}
//                                     (histogram, DefaultBuckets())
//
// grpc_type is "unary", "client_stream", "server_stream" or "bidi_stream";
// grpc_code is spelled as Go's codes.Code.String() ("OK", "NotFound",
// "Unimplemented", ...), which is what go-grpc-prometheus emits.
// Calls to methods this binary does not know (not in protobuf's generated
// descriptor pool, nor grpc.health.v1.Health) are counted under
// grpc_service="unknown", grpc_method="unknown", so that clients cannot create
// series at will.
//
// Install:
//   std::vector<std::unique_ptr<
//       grpc::experimental::ServerInterceptorFactoryInterface>> creators;
//   creators.push_back(NewGrpcMetricsInterceptorFactory(&registry));
//   builder.experimental().SetInterceptorCreators(std::move(creators));
//
// The factory registers the families above in `registry` (so call it once per
// registry); the registry must outlive the gRPC server. Interceptors are
// created per call by gRPC and are thread-safe as the registry is.
#ifndef CONDENSE_SERVER_METRICS_GRPC_METRICS_H_
#define CONDENSE_SERVER_METRICS_GRPC_METRICS_H_

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "server/metrics/registry.h"

namespace condense::metrics {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcMetricsInterceptorFactory(Registry* registry);

// The grpc_code label value for `code`, as go-grpc-prometheus writes it.
const char* GrpcCodeLabel(grpc::StatusCode code);

// Splits "/pkg.Service/Method" into "pkg.Service" and "Method"; anything
// else gives "unknown", "unknown" (as go-grpc-prometheus does).
void SplitGrpcMethodName(absl::string_view full_name, std::string* service,
                         std::string* method);

}  // namespace condense::metrics

#endif  // CONDENSE_SERVER_METRICS_GRPC_METRICS_H_
