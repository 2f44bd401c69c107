#include "server/metrics/grpc_metrics.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/server_context.h>

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace condense::metrics {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::Interceptor;
using grpc::experimental::InterceptorBatchMethods;
using grpc::experimental::ServerRpcInfo;

// The families, registered once per factory.
struct GrpcServerMetrics {
  explicit GrpcServerMetrics(Registry* registry)
      : started(
            registry->AddCounter("grpc_server_started_total",
                                 "Total number of RPCs started on the server.",
                                 {"grpc_type", "grpc_service", "grpc_method"})),
        handled(registry->AddCounter(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of "
            "success or failure.",
            {"grpc_type", "grpc_service", "grpc_method", "grpc_code"})),
        msg_received(registry->AddCounter(
            "grpc_server_msg_received_total",
            "Total number of RPC stream messages received on the server.",
            {"grpc_type", "grpc_service", "grpc_method"})),
        msg_sent(registry->AddCounter(
            "grpc_server_msg_sent_total",
            "Total number of gRPC stream messages sent by the server.",
            {"grpc_type", "grpc_service", "grpc_method"})),
        handling_seconds(registry->AddHistogram(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been "
            "application-level handled by the server.",
            {"grpc_type", "grpc_service", "grpc_method"}, DefaultBuckets())) {}

  Family<Counter>& started;
  Family<Counter>& handled;
  Family<Counter>& msg_received;
  Family<Counter>& msg_sent;
  Family<Histogram>& handling_seconds;
};

const char* TypeLabel(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unary";
}

// gRPC runs interceptors even for methods no service registered (it answers
// them UNIMPLEMENTED), so a client could mint label values at will. Only
// methods compiled into this binary keep their names: those in protobuf's
// generated pool (our services, reflection) and the health service, whose
// protos gRPC does not build with protobuf. The set is finite.
bool IsKnownMethod(const std::string& service, const std::string& method) {
  if (service == "grpc.health.v1.Health") {
    return method == "Check" || method == "Watch";
  }
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
             absl::StrCat(service, ".", method)) != nullptr;
}

// One per call; gRPC runs its hooks in order, never two at once for a call.
class MetricsInterceptor final : public Interceptor {
 public:
  MetricsInterceptor(const GrpcServerMetrics* metrics, ServerRpcInfo* info)
      : metrics_(metrics),
        context_(info->server_context()),
        start_(std::chrono::steady_clock::now()) {
    std::string service;
    std::string method;
    SplitGrpcMethodName(info->method() != nullptr ? info->method() : "",
                        &service, &method);
    if (!IsKnownMethod(service, method)) {
      service = "unknown";
      method = "unknown";
    }
    labels_ = {TypeLabel(info->type()), std::move(service), std::move(method)};
    // Started when gRPC matched the call to a method and made this object.
    metrics_->started.WithLabels(labels_).Increment();
    // Looked up once, so that each stream message costs one atomic add.
    msg_received_ = &metrics_->msg_received.WithLabels(labels_);
    msg_sent_ = &metrics_->msg_sent.WithLabels(labels_);
  }

  ~MetricsInterceptor() override {
    // A call torn down without sending a status was cancelled.
    if (!handled_) RecordHandled(grpc::StatusCode::CANCELLED);
  }

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {  // Null: end of stream.
      msg_received_->Increment();
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      msg_sent_->Increment();
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS) &&
        !handled_) {
      RecordHandled(SeenCode(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  // The code the client saw. After a cancellation or an expired deadline the
  // handler's status never reaches the client (handlers often finish with
  // UNKNOWN then), so count what go-grpc-prometheus would: the context's
  // error.
  grpc::StatusCode SeenCode(grpc::StatusCode sent) const {
    if (context_ == nullptr || !context_->IsCancelled()) return sent;
    if (sent == grpc::StatusCode::DEADLINE_EXCEEDED ||
        std::chrono::system_clock::now() >= context_->deadline()) {
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    }
    return grpc::StatusCode::CANCELLED;
  }

  void RecordHandled(grpc::StatusCode code) {
    handled_ = true;
    std::vector<std::string> with_code = labels_;
    with_code.emplace_back(GrpcCodeLabel(code));
    metrics_->handled.WithLabels(with_code).Increment();
    const std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start_;
    metrics_->handling_seconds.WithLabels(labels_).Observe(elapsed.count());
  }

  const GrpcServerMetrics* const metrics_;
  grpc::ServerContextBase* const context_;  // Outlives this interceptor.
  const std::chrono::steady_clock::time_point start_;
  std::vector<std::string> labels_;  // grpc_type, grpc_service, grpc_method.
  Counter* msg_received_ = nullptr;
  Counter* msg_sent_ = nullptr;
  bool handled_ = false;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(Registry* registry) : metrics_(registry) {}

  Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new MetricsInterceptor(&metrics_, info);  // gRPC takes ownership.
  }

 private:
  const GrpcServerMetrics metrics_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewGrpcMetricsInterceptorFactory(Registry* registry) {
  return std::make_unique<MetricsInterceptorFactory>(registry);
}

const char* GrpcCodeLabel(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "Canceled";
    case grpc::StatusCode::UNKNOWN:
      return "Unknown";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "InvalidArgument";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DeadlineExceeded";
    case grpc::StatusCode::NOT_FOUND:
      return "NotFound";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "AlreadyExists";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PermissionDenied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "ResourceExhausted";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FailedPrecondition";
    case grpc::StatusCode::ABORTED:
      return "Aborted";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OutOfRange";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "Unimplemented";
    case grpc::StatusCode::INTERNAL:
      return "Internal";
    case grpc::StatusCode::UNAVAILABLE:
      return "Unavailable";
    case grpc::StatusCode::DATA_LOSS:
      return "DataLoss";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "Unauthenticated";
    default:
      return "Unknown";
  }
}

void SplitGrpcMethodName(absl::string_view full_name, std::string* service,
                         std::string* method) {
  if (!full_name.empty() && full_name.front() == '/') {
    full_name.remove_prefix(1);
  }
  const size_t slash = full_name.find('/');
  if (slash == absl::string_view::npos) {
    *service = "unknown";
    *method = "unknown";
    return;
  }
  service->assign(full_name.data(), slash);
  method->assign(full_name.data() + slash + 1, full_name.size() - slash - 1);
}

}  // namespace condense::metrics
