#include "server/metrics/grpc_metrics.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "condense/v1/blobs.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace condense::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";

// grpc.health.v1.HealthCheckRequest has one field: string service = 1.
std::string HealthCheckRequestBytes(const std::string& service) {
  std::string bytes;
  if (service.empty()) return bytes;  // Default value: nothing on the wire.
  bytes.push_back(0x0a);              // Field 1, length-delimited.
  bytes.push_back(static_cast<char>(service.size()));  // < 128 here.
  return bytes + service;
}

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

// Opens grpc.health.v1.Health/Watch (server streaming) through the generic
// bidi API, reads the first status, then cancels.
class WatchOnce final
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit WatchOnce(grpc::GenericStub* stub) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(10));
    stub->PrepareBidiStreamingCall(&context_, "/grpc.health.v1.Health/Watch",
                                   grpc::StubOptions(), this);
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (ok) first_response_ = ToString(response_);
    context_.TryCancel();
  }
  void OnDone(const grpc::Status& status) override { done_.set_value(status); }

  grpc::Status Wait() { return done_.get_future().get(); }
  const std::string& first_response() const { return first_response_; }

 private:
  grpc::ClientContext context_;
  grpc::ByteBuffer request_{nullptr, 0};  // HealthCheckRequest{service: ""}.
  grpc::ByteBuffer response_;
  std::string first_response_;
  std::promise<grpc::Status> done_;
};

class GrpcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    // A real service with no methods implemented: its calls end
    // UNIMPLEMENTED, as in a server where a method is not written yet.
    builder.RegisterService(&blobs_);
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        creators;
    creators.push_back(NewGrpcMetricsInterceptorFactory(&registry_));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    stub_ = std::make_unique<grpc::GenericStub>(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                            grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // A unary call with raw request bytes; waits at most 10 s.
  grpc::Status Call(const std::string& method, const std::string& request,
                    std::string* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    grpc::Slice slice(request);
    grpc::ByteBuffer request_buffer(&slice, 1);
    grpc::ByteBuffer response_buffer;
    std::promise<grpc::Status> done;
    stub_->UnaryCall(&context, method, grpc::StubOptions(), &request_buffer,
                     &response_buffer, [&done](const grpc::Status& status) {
                       done.set_value(status);
                     });
    grpc::Status status = done.get_future().get();
    if (response != nullptr) *response = ToString(response_buffer);
    return status;
  }

  Registry registry_;
  condense::v1::Blobs::CallbackService blobs_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

TEST_F(GrpcMetricsTest, CountsHealthCheckCalls) {
  std::string response;
  ASSERT_TRUE(Call(kHealthCheck, HealthCheckRequestBytes(""), &response).ok());
  // HealthCheckResponse{status: SERVING(1)}.
  EXPECT_EQ(response, std::string("\x08\x01", 2));
  ASSERT_TRUE(Call(kHealthCheck, HealthCheckRequestBytes(""), nullptr).ok());
  grpc::Status missing =
      Call(kHealthCheck, HealthCheckRequestBytes("no.such.Service"), nullptr);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);

  const std::string text = registry_.Serialize();
  const std::string labels =
      "grpc_type=\"unary\",grpc_service=\"grpc.health.v1.Health\","
      "grpc_method=\"Check\"";
  EXPECT_THAT(text, HasSubstr("grpc_server_started_total{" + labels + "} 3\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{" + labels +
                              ",grpc_code=\"OK\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{" + labels +
                              ",grpc_code=\"NotFound\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_msg_received_total{" + labels + "} 3\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_msg_sent_total{" + labels + "} 2\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_count{" + labels +
                              "} 3\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_bucket{" + labels +
                              ",le=\"+Inf\"} 3\n"));
}

TEST_F(GrpcMetricsTest, CountsUnimplementedMethods) {
  EXPECT_EQ(
      Call("/condense.v1.Blobs/QueryWriteStatus", "", nullptr).error_code(),
      grpc::StatusCode::UNIMPLEMENTED);
  // Read is server-streaming; a unary-style generic call reaches it too.
  EXPECT_EQ(Call("/condense.v1.Blobs/Read", "", nullptr).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  const std::string text = registry_.Serialize();
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{grpc_type=\"unary\","
                              "grpc_service=\"condense.v1.Blobs\","
                              "grpc_method=\"QueryWriteStatus\","
                              "grpc_code=\"Unimplemented\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_started_total{grpc_type=\"server_stream\","
                        "grpc_service=\"condense.v1.Blobs\","
                        "grpc_method=\"Read\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{grpc_type="
                              "\"server_stream\",grpc_service="
                              "\"condense.v1.Blobs\",grpc_method=\"Read\","
                              "grpc_code=\"Unimplemented\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("grpc_code=\"OK\"")));
}

TEST_F(GrpcMetricsTest, UnknownMethodsAreCountedWithoutTheirNames) {
  for (const char* method : {"/condense.test.Nowhere/Missing",
                             "/condense.v1.Blobs/NoSuchMethod", "garbage"}) {
    EXPECT_EQ(Call(method, "", nullptr).error_code(),
              grpc::StatusCode::UNIMPLEMENTED)
        << method;
  }
  const std::string text = registry_.Serialize();
  // gRPC sees unknown methods as bidi streams.
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{grpc_type="
                              "\"bidi_stream\",grpc_service=\"unknown\","
                              "grpc_method=\"unknown\",grpc_code="
                              "\"Unimplemented\"} 3\n"));
  EXPECT_THAT(text, Not(HasSubstr("Nowhere")));
  EXPECT_THAT(text, Not(HasSubstr("NoSuchMethod")));
}

TEST_F(GrpcMetricsTest, CountsStreamMessagesAndCancellation) {
  WatchOnce watch(stub_.get());
  EXPECT_EQ(watch.Wait().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(watch.first_response(), std::string("\x08\x01", 2));

  // The server side finishes on its own threads after the client sees the
  // cancellation; wait (bounded) for the handled counter.
  const std::string labels =
      "grpc_type=\"server_stream\",grpc_service=\"grpc.health.v1.Health\","
      "grpc_method=\"Watch\"";
  const std::string handled = "grpc_server_handled_total{" + labels;
  std::string text = registry_.Serialize();
  for (int i = 0; i < 500 && text.find(handled) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    text = registry_.Serialize();
  }
  EXPECT_THAT(text, HasSubstr("grpc_server_started_total{" + labels + "} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_msg_received_total{" + labels + "} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_msg_sent_total{" + labels + "} 1\n"));
  EXPECT_THAT(text, HasSubstr(handled + ",grpc_code=\"Canceled\"} 1\n"));
}

TEST(GrpcMetricsNamesTest, SplitsMethodNames) {
  std::string service;
  std::string method;
  SplitGrpcMethodName("/pkg.v1.Service/Method", &service, &method);
  EXPECT_EQ(service, "pkg.v1.Service");
  EXPECT_EQ(method, "Method");
  SplitGrpcMethodName("garbage", &service, &method);
  EXPECT_EQ(service, "unknown");
  EXPECT_EQ(method, "unknown");
}

TEST(GrpcMetricsNamesTest, SpellsCodesLikeGoGrpcPrometheus) {
  EXPECT_STREQ(GrpcCodeLabel(grpc::StatusCode::OK), "OK");
  EXPECT_STREQ(GrpcCodeLabel(grpc::StatusCode::CANCELLED), "Canceled");
  EXPECT_STREQ(GrpcCodeLabel(grpc::StatusCode::NOT_FOUND), "NotFound");
  EXPECT_STREQ(GrpcCodeLabel(grpc::StatusCode::RESOURCE_EXHAUSTED),
               "ResourceExhausted");
  EXPECT_STREQ(GrpcCodeLabel(grpc::StatusCode::UNAUTHENTICATED),
               "Unauthenticated");
}

}  // namespace
}  // namespace condense::metrics
