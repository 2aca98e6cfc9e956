// The fake Falco behind the Falco gRPC client's tests, checked over real gRPC
// with the generated stubs.
#include "tests/fakes/fake_falco_grpc.h"

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/file_util.h"
#include "falco/outputs.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/test_certs.h"

namespace corral::fakes {
namespace {

namespace outputs = ::falco::outputs;
using Stream = grpc::ClientReaderWriter<outputs::request, outputs::response>;

constexpr absl::Duration kWait = absl::Seconds(10);
const absl::Time kTime = absl::FromUnixSeconds(1783277459);

class FakeFalcoGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/fake_falco_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  std::unique_ptr<outputs::service::Stub> Stub(
      const std::string& address,
      std::shared_ptr<grpc::ChannelCredentials> credentials =
          grpc::InsecureChannelCredentials()) {
    return outputs::service::NewStub(grpc::CreateChannel(address, credentials));
  }
  static void Bound(grpc::ClientContext* context) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  }
  void Push(absl::string_view rule) {
    fake_.Push(MakeFalcoResponse(rule, falco::schema::NOTICE, kTime));
  }
  static std::string ReadRule(Stream* stream) {
    outputs::response r;
    return stream->Read(&r) ? r.rule() : "<stream ended>";
  }

  std::string dir_;
  FakeFalcoGrpc fake_;
};

TEST_F(FakeFalcoGrpcTest, EachSubRequestDrainsTheQueue) {
  ASSERT_TRUE(fake_.Start().ok());
  Push("a");
  Push("b");
  auto stub = Stub(fake_.address());
  grpc::ClientContext context;
  Bound(&context);
  std::unique_ptr<Stream> stream = stub->sub(&context);
  ASSERT_TRUE(stream->Write(outputs::request()));
  EXPECT_EQ(ReadRule(stream.get()), "a");
  EXPECT_EQ(ReadRule(stream.get()), "b");
  EXPECT_EQ(fake_.Queued(), 0u);
  // Pushed later: comes with the next request, on the same stream.
  Push("c");
  ASSERT_TRUE(stream->Write(outputs::request()));
  EXPECT_EQ(ReadRule(stream.get()), "c");
  EXPECT_TRUE(fake_.WaitFor([&] { return fake_.SubRequests() == 2; }, kWait));
  // Counted once the write is done, which may be after the client read it.
  EXPECT_TRUE(fake_.WaitFor([&] { return fake_.Sent() == 3; }, kWait));
  EXPECT_EQ(fake_.OpenSubStreams(), 1);
  // Half-closing ends the stream cleanly.
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_EQ(ReadRule(stream.get()), "<stream ended>");
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(
      fake_.WaitFor([&] { return fake_.OpenSubStreams() == 0; }, kWait));
  EXPECT_EQ(fake_.SubStreams(), 1);
}

TEST_F(FakeFalcoGrpcTest, GetStreamsWhatIsQueuedThenEnds) {
  ASSERT_TRUE(fake_.Start().ok());
  Push("a");
  Push("b");
  auto stub = Stub(fake_.address());
  for (const std::vector<std::string>& want :
       {std::vector<std::string>{"a", "b"}, std::vector<std::string>{}}) {
    grpc::ClientContext context;
    Bound(&context);
    std::unique_ptr<grpc::ClientReader<outputs::response>> reader =
        stub->get(&context, outputs::request());
    std::vector<std::string> got;
    outputs::response r;
    while (reader->Read(&r)) got.push_back(r.rule());
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(got, want);
  }
  EXPECT_EQ(fake_.GetCalls(), 2);
}

TEST_F(FakeFalcoGrpcTest, EveryAlertGoesToOneClient) {
  ASSERT_TRUE(fake_.Start().ok());
  auto stub = Stub(fake_.address());
  grpc::ClientContext context_a, context_b;
  Bound(&context_a);
  Bound(&context_b);
  std::unique_ptr<Stream> a = stub->sub(&context_a);
  std::unique_ptr<Stream> b = stub->sub(&context_b);
  Push("first");
  ASSERT_TRUE(a->Write(outputs::request()));
  EXPECT_EQ(ReadRule(a.get()), "first");
  ASSERT_TRUE(b->Write(outputs::request()));
  ASSERT_TRUE(fake_.WaitFor([&] { return fake_.SubRequests() == 2; }, kWait));
  // b's request found nothing: "first" was a's alone.
  ASSERT_TRUE(b->WritesDone());
  EXPECT_EQ(ReadRule(b.get()), "<stream ended>");
  EXPECT_TRUE(b->Finish().ok());
  ASSERT_TRUE(a->WritesDone());
  EXPECT_EQ(ReadRule(a.get()), "<stream ended>");
  EXPECT_TRUE(a->Finish().ok());
  EXPECT_EQ(fake_.Sent(), 1);
}

TEST_F(FakeFalcoGrpcTest, UnimplementedPlaysFalco044) {
  fake_.SetUnimplemented(true);
  ASSERT_TRUE(fake_.Start().ok());
  Push("a");
  auto stub = Stub(fake_.address());
  grpc::ClientContext context;
  Bound(&context);
  std::unique_ptr<Stream> stream = stub->sub(&context);
  stream->Write(outputs::request());
  EXPECT_EQ(ReadRule(stream.get()), "<stream ended>");
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  grpc::ClientContext get_context;
  Bound(&get_context);
  auto reader = stub->get(&get_context, outputs::request());
  outputs::response r;
  EXPECT_FALSE(reader->Read(&r));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(fake_.Queued(), 1u);
  EXPECT_EQ(fake_.SubStreams(), 0);
}

TEST_F(FakeFalcoGrpcTest, StopEndsStreamsAndRestartKeepsPortAndQueue) {
  ASSERT_TRUE(fake_.Start().ok());
  const int port = fake_.port();
  auto stub = Stub(fake_.address());
  grpc::ClientContext context;
  Bound(&context);
  std::unique_ptr<Stream> stream = stub->sub(&context);
  ASSERT_TRUE(stream->Write(outputs::request()));
  ASSERT_TRUE(fake_.WaitFor([&] { return fake_.SubRequests() == 1; }, kWait));
  fake_.Stop();
  EXPECT_EQ(ReadRule(stream.get()), "<stream ended>");
  EXPECT_FALSE(stream->Finish().ok());
  Push("kept");
  {
    // Nothing listens while stopped.
    grpc::ClientContext refused;
    Bound(&refused);
    auto reader = Stub(fake_.address())->get(&refused, outputs::request());
    outputs::response r;
    EXPECT_FALSE(reader->Read(&r));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  ASSERT_TRUE(fake_.Start(port).ok());
  EXPECT_EQ(fake_.port(), port);
  grpc::ClientContext again;
  Bound(&again);
  std::unique_ptr<Stream> second = Stub(fake_.address())->sub(&again);
  ASSERT_TRUE(second->Write(outputs::request()));
  EXPECT_EQ(ReadRule(second.get()), "kept");
  second->WritesDone();
  EXPECT_TRUE(second->Finish().ok());
}

TEST_F(FakeFalcoGrpcTest, ServesAUnixSocket) {
  const std::string path = dir_ + "/falco.sock";
  ASSERT_TRUE(fake_.StartUnix(path).ok());
  EXPECT_EQ(fake_.address(), "unix://" + path);
  EXPECT_TRUE(std::filesystem::exists(path));
  Push("a");
  grpc::ClientContext context;
  Bound(&context);
  std::unique_ptr<Stream> stream = Stub(fake_.address())->sub(&context);
  ASSERT_TRUE(stream->Write(outputs::request()));
  EXPECT_EQ(ReadRule(stream.get()), "a");
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  fake_.Stop();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(FakeFalcoGrpcTest, MutualTlsDemandsAClientCertificate) {
  absl::StatusOr<TestCerts> certs = GenerateTestCerts(dir_);
  ASSERT_TRUE(certs.ok()) << certs.status();
  FakeFalcoGrpc fake(FakeTlsOptions{.cert_file = certs->server_cert,
                                    .key_file = certs->server_key,
                                    .client_ca_file = certs->ca_cert});
  ASSERT_TRUE(fake.Start().ok());
  fake.Push(MakeFalcoResponse("secret", falco::schema::ALERT, kTime));
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = core::ReadFileToString(certs->ca_cert).value();
  {
    grpc::ClientContext context;
    Bound(&context);
    auto reader = Stub(fake.address(), grpc::SslCredentials(ssl))
                      ->get(&context, outputs::request());
    outputs::response r;
    EXPECT_FALSE(reader->Read(&r));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  ssl.pem_cert_chain = core::ReadFileToString(certs->client_cert).value();
  ssl.pem_private_key = core::ReadFileToString(certs->client_key).value();
  grpc::ClientContext context;
  Bound(&context);
  auto reader = Stub(fake.address(), grpc::SslCredentials(ssl))
                    ->get(&context, outputs::request());
  outputs::response r;
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.rule(), "secret");
  EXPECT_TRUE(reader->Finish().ok());
}

TEST(MakeFalcoResponseTest, FillsWhatFalcoSends) {
  outputs::response r = MakeFalcoResponse(
      "Terminal shell in container", falco::schema::NOTICE,
      absl::FromUnixSeconds(1783277459) + absl::Nanoseconds(430325374),
      {{"proc.name", "bash"}});
  EXPECT_EQ(r.time().seconds(), 1783277459);
  EXPECT_EQ(r.time().nanos(), 430325374);
  EXPECT_EQ(r.priority(), falco::schema::NOTICE);
  EXPECT_EQ(r.rule(), "Terminal shell in container");
  EXPECT_EQ(r.output_fields().at("proc.name"), "bash");
  EXPECT_EQ(r.source(), "syscall");
  EXPECT_EQ(r.hostname(), "falco-node");
}

}  // namespace
}  // namespace corral::fakes
