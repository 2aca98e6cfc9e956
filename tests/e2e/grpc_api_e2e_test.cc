// End to end: gRPC clients of corral's own API (corral.v1.Alerts) and of
// Falco's output API (falco.outputs.service) against the real binary.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <filesystem>
#include <memory>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "core/http_client.h"
#include "corral/v1/alerts.grpc.pb.h"
#include "falco/outputs.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/fakes/tcp_proxy.h"
#include "tests/fakes/test_certs.h"

namespace corral::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(15);

std::chrono::system_clock::time_point Deadline(absl::Duration wait = kWait) {
  return absl::ToChronoTime(absl::Now() + wait);
}

// A Falco alert JSON for POST /, with a marker field.
std::string AlertJson(absl::string_view priority, absl::string_view marker,
                      absl::string_view source = "syscall",
                      absl::string_view padding = "") {
  return absl::StrCat(
      R"({"rule":"Terminal shell in container","priority":")", priority,
      R"(","time":"2026-11-30T10:15:31.123456789Z","output":"shell","source":")",
      source, R"(","tags":["container","T1059"],"output_fields":{"marker":")",
      marker, R"(","proc.pid":4242,"evt.is_open":true,"pad":")", padding,
      R"("}})");
}

v1::Alert ProtoAlert(v1::Priority priority, absl::string_view marker,
                     absl::string_view source = "syscall") {
  v1::Alert alert;
  alert.set_rule("Write below etc");
  alert.set_priority(priority);
  alert.mutable_time()->set_seconds(1796040000);
  alert.mutable_time()->set_nanos(500);
  alert.set_output("file opened for writing");
  alert.set_source(std::string(source));
  alert.add_tags("filesystem");
  (*alert.mutable_output_fields())["marker"].set_string_value(
      std::string(marker));
  (*alert.mutable_output_fields())["fd.num"].set_number_value(3);
  return alert;
}

std::string Marker(const v1::Alert& alert) {
  auto it = alert.output_fields().find("marker");
  return it == alert.output_fields().end() ? "" : it->second.string_value();
}

class GrpcApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/grpc_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "corral stderr:\n" << corral_->Stderr();
  }

  // One webhook output to the fake receiver; `listen_extra` is more YAML for
  // the listen block.
  absl::Status Start(absl::string_view listen_extra = "",
                     absl::string_view spool_extra = "") {
    absl::Status started = corral_->StartWithConfig(
        absl::StrCat("listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n",
                     listen_extra, "spool:\n  dir: ./data\n", spool_extra,
                     "outputs:\n"
                     "  - name: hook\n"
                     "    type: webhook\n"
                     "    url: ",
                     receiver_.Url("/alerts"), "\n"));
    if (started.ok()) {
      channel_ =
          grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials());
    }
    return started;
  }
  std::string Target() const {
    return absl::StrCat("127.0.0.1:", corral_->grpc_port());
  }

  // POST / and returns the seq corral answered with (0 on failure).
  uint64_t Post(const std::string& body) {
    core::HttpRequest request;
    request.method = "POST";
    request.url = corral_->HttpUrl("/");
    request.body = body;
    request.headers.emplace_back("Content-Type", "application/json");
    absl::StatusOr<core::HttpResponse> response = http_.Send(request);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok() || response->status != 200) {
      ADD_FAILURE() << "POST / answered "
                    << (response.ok() ? response->body : "nothing");
      return 0;
    }
    const size_t colon = response->body.find(':');
    return std::stoull(response->body.substr(colon + 1));
  }

  grpc::Status Publish(const v1::Alert& alert, v1::PublishResponse* response,
                       absl::string_view token = "") {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    return v1::Alerts::NewStub(channel_)->Publish(&context, alert, response);
  }

  // Waits until corral counts `n` subscribed streams.
  bool WaitForSubscribers(int n) {
    return corral_->WaitForMetric(absl::StrCat("corral_grpc_subscribers ", n),
                                  kWait);
  }

  fakes::FakeHttpServer receiver_;
  std::string dir_;
  std::unique_ptr<CorralProcess> corral_;
  std::shared_ptr<grpc::Channel> channel_;
  core::HttpClient http_{core::HttpClientTls{}, "corral-e2e"};
};

// An open Subscribe stream.
struct Subscriber {
  Subscriber(const std::shared_ptr<grpc::Channel>& channel,
             const v1::SubscribeRequest& request,
             absl::Duration deadline = kWait)
      : stub(v1::Alerts::NewStub(channel)) {
    context.set_deadline(Deadline(deadline));
    reader = stub->Subscribe(&context, request);
  }
  // Reads `n` alerts (fewer if the stream ends or the deadline passes).
  std::vector<v1::Alert> Read(size_t n) {
    std::vector<v1::Alert> alerts;
    v1::Alert alert;
    while (alerts.size() < n && reader->Read(&alert)) alerts.push_back(alert);
    return alerts;
  }
  grpc::Status Finish() {
    context.TryCancel();
    return reader->Finish();
  }

  std::unique_ptr<v1::Alerts::Stub> stub;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::Alert>> reader;
};

TEST_F(GrpcApiTest, PublishIsValidatedSpooledDeliveredAndCounted) {
  ASSERT_TRUE(Start().ok());
  v1::PublishResponse first;
  grpc::Status status =
      Publish(ProtoAlert(v1::PRIORITY_WARNING, "one"), &first);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(first.seq(), 1u);
  EXPECT_EQ(first.uuid().size(), 36u);
  v1::PublishResponse second;
  ASSERT_TRUE(Publish(ProtoAlert(v1::PRIORITY_ERROR, "two"), &second).ok());
  EXPECT_EQ(second.seq(), first.seq() + 1);

  // The same alert as a webhook receives it: JSON types kept.
  ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));
  const std::string body = receiver_.Requests()[0].body;
  EXPECT_THAT(body, HasSubstr("\"rule\":\"Write below etc\""));
  EXPECT_THAT(body, HasSubstr("\"priority\":\"Warning\""));
  EXPECT_THAT(body, HasSubstr("\"fd.num\":3"));
  EXPECT_THAT(body, HasSubstr("\"time\":\"2026-11-30T12:00:00.0000005Z\""));
  EXPECT_THAT(body, HasSubstr(absl::StrCat("\"uuid\":\"", first.uuid())));

  v1::Alert no_rule = ProtoAlert(v1::PRIORITY_WARNING, "bad");
  no_rule.clear_rule();
  v1::PublishResponse ignored;
  status = Publish(no_rule, &ignored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("missing rule"));
  v1::Alert no_priority = ProtoAlert(v1::PRIORITY_UNSPECIFIED, "bad");
  status = Publish(no_priority, &ignored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("missing priority"));
  v1::Alert no_fields = ProtoAlert(v1::PRIORITY_WARNING, "bad");
  no_fields.clear_output_fields();
  status = Publish(no_fields, &ignored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("output_fields"));

  EXPECT_TRUE(corral_->WaitForMetric(
      "corral_inputs_total{source=\"grpc\",status=\"accepted\"} 2", kWait));
  EXPECT_THAT(
      corral_->Metrics(),
      HasSubstr("corral_inputs_total{source=\"grpc\",status=\"invalid\"} 3"));

  ASSERT_TRUE(corral_->WaitForMetric(
      "corral_outputs_total{output=\"hook\",status=\"delivered\"} 2", kWait));
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  v1::ListOutputsResponse outputs;
  status = v1::Alerts::NewStub(channel_)->ListOutputs(
      &context, v1::ListOutputsRequest(), &outputs);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(outputs.outputs_size(), 1);
  EXPECT_EQ(outputs.outputs(0).name(), "hook");
  EXPECT_EQ(outputs.outputs(0).type(), "webhook");
  EXPECT_EQ(outputs.outputs(0).delivered(), 2u);
  EXPECT_EQ(outputs.outputs(0).queue_depth(), 0u);
  EXPECT_EQ(outputs.outputs(0).dead_lettered(), 0u);
}

TEST_F(GrpcApiTest, SubscribeFiltersServerSideAndKeepsSeqOrder) {
  ASSERT_TRUE(Start().ok());
  v1::SubscribeRequest request;
  request.set_min_priority(v1::PRIORITY_WARNING);
  request.add_sources("syscall");
  request.add_rules("Terminal shell*");
  Subscriber filtered(channel_, request);
  Subscriber everything(channel_, v1::SubscribeRequest());
  ASSERT_TRUE(WaitForSubscribers(2));

  std::vector<uint64_t> wanted;
  for (int i = 0; i < 20; ++i) {
    const uint64_t seq =
        Post(AlertJson(i % 2 == 0 ? "Critical" : "Notice", absl::StrCat("m", i),
                       i % 4 == 0 ? "k8s_audit" : "syscall"));
    if (i % 2 == 0 && i % 4 != 0) wanted.push_back(seq);
  }
  std::vector<v1::Alert> got = filtered.Read(wanted.size());
  ASSERT_EQ(got.size(), wanted.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].seq(), wanted[i]);
    EXPECT_EQ(got[i].priority(), v1::PRIORITY_CRITICAL);
    EXPECT_EQ(got[i].source(), "syscall");
    EXPECT_EQ(got[i].output_fields().at("proc.pid").number_value(), 4242);
    EXPECT_TRUE(got[i].output_fields().at("evt.is_open").bool_value());
    EXPECT_EQ(got[i].time().nanos(), 123456789);
  }
  std::vector<v1::Alert> all = everything.Read(20);
  ASSERT_EQ(all.size(), 20u);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_EQ(all[i].seq(), all[i - 1].seq() + 1);
  }

  v1::SubscribeRequest bad;
  bad.set_min_priority(static_cast<v1::Priority>(42));
  Subscriber refused(channel_, bad);
  EXPECT_TRUE(refused.Read(1).empty());
  grpc::Status status = refused.reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("min_priority"));
  filtered.Finish();
  everything.Finish();
}

TEST_F(GrpcApiTest, ResumingWithAfterSeqLosesNothingAndRepeatsNothing) {
  ASSERT_TRUE(Start().ok());
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 30; ++i) seqs.push_back(Post(AlertJson("Warning", "a")));

  // A client that saw up to the 10th alert, then went away.
  v1::SubscribeRequest resume;
  resume.set_after_seq(seqs[9]);
  Subscriber subscriber(channel_, resume);
  std::vector<v1::Alert> backlog = subscriber.Read(20);
  ASSERT_EQ(backlog.size(), 20u);
  for (size_t i = 0; i < backlog.size(); ++i) {
    EXPECT_EQ(backlog[i].seq(), seqs[10 + i]);
  }
  // Then the live tail, on the same stream.
  const uint64_t live_seq = Post(AlertJson("Warning", "live"));
  std::vector<v1::Alert> live = subscriber.Read(1);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].seq(), live_seq);
  EXPECT_EQ(Marker(live[0]), "live");
  subscriber.Finish();

  // after_seq = 0: everything retained.
  v1::SubscribeRequest from_start;
  from_start.set_after_seq(0);
  Subscriber all(channel_, from_start);
  std::vector<v1::Alert> everything = all.Read(31);
  ASSERT_EQ(everything.size(), 31u);
  EXPECT_EQ(everything.front().seq(), seqs.front());
  all.Finish();

  v1::SubscribeRequest future;
  future.set_after_seq(live_seq + 100);
  Subscriber refused(channel_, future);
  EXPECT_TRUE(refused.Read(1).empty());
  grpc::Status status = refused.reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr("past the last seq"));
}

TEST_F(GrpcApiTest, AResumeFiltersTheBacklogAndThenTheLiveFeed) {
  ASSERT_TRUE(Start("", "  fsync: never\n").ok());
  // More than one batch of backlog, of which a third matches, ending with two
  // the filter refuses: the last match is then written as the run's last
  // (never held back for a write that will not come).
  std::vector<uint64_t> wanted;
  for (int i = 0; i < 702; ++i) {
    const bool critical = i % 3 == 0;
    const uint64_t seq =
        Post(AlertJson(critical ? "Critical" : "Notice", absl::StrCat("m", i)));
    if (critical) wanted.push_back(seq);
  }
  v1::SubscribeRequest request;
  request.set_min_priority(v1::PRIORITY_CRITICAL);
  request.set_after_seq(0);
  Subscriber resumed(channel_, request);
  std::vector<v1::Alert> backlog = resumed.Read(wanted.size());
  ASSERT_EQ(backlog.size(), wanted.size());
  for (size_t i = 0; i < backlog.size(); ++i) {
    ASSERT_EQ(backlog[i].seq(), wanted[i]);
  }
  // The live feed goes through the same filter after the backlog.
  Post(AlertJson("Notice", "live notice"));
  const uint64_t live = Post(AlertJson("Critical", "live critical"));
  std::vector<v1::Alert> next = resumed.Read(1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].seq(), live);
  EXPECT_EQ(Marker(next[0]), "live critical");
  resumed.Finish();
}

// Resumes read the spool on a few shared threads, a batch at a time: clients
// that stop reading in the middle of their backlog hold none of them, and
// every other resume goes on.
TEST_F(GrpcApiTest, ResumesThatStopReadingDoNotHoldUpTheOthers) {
  ASSERT_TRUE(Start("", "  fsync: never\n").ok());
  constexpr int kAlerts = 1500;
  const std::string padding(400, 'x');
  uint64_t last = 0;
  for (int i = 0; i < kAlerts; ++i) {
    last = Post(AlertJson("Notice", absl::StrCat(i), "syscall", padding));
  }
  ASSERT_NE(last, 0u);
  v1::SubscribeRequest from_start;
  from_start.set_after_seq(0);

  // Four clients that read nothing: without BDP probing the flow-control
  // window stays at 64 KiB, far less than their backlog.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto stalled_channel = grpc::CreateCustomChannel(
      Target(), grpc::InsecureChannelCredentials(), args);
  std::vector<std::unique_ptr<Subscriber>> stalled;
  for (int i = 0; i < 4; ++i) {
    stalled.push_back(std::make_unique<Subscriber>(stalled_channel, from_start,
                                                   absl::Seconds(60)));
  }
  // Let them fill their windows first (not needed for what is checked).
  absl::SleepFor(absl::Milliseconds(300));

  // Eight clients that read: each gets the whole backlog, in order, once.
  std::vector<std::thread> readers;
  std::vector<std::vector<uint64_t>> got(8);
  for (int r = 0; r < 8; ++r) {
    readers.emplace_back([&, r] {
      Subscriber reader(channel_, from_start);
      for (const v1::Alert& a : reader.Read(kAlerts)) got[r].push_back(a.seq());
      reader.Finish();
    });
  }
  for (std::thread& t : readers) t.join();
  for (int r = 0; r < 8; ++r) {
    ASSERT_EQ(got[r].size(), static_cast<size_t>(kAlerts)) << "reader " << r;
    for (int i = 0; i < kAlerts; ++i) {
      ASSERT_EQ(got[r][i], last - kAlerts + 1 + i) << "reader " << r;
    }
  }
  for (auto& s : stalled) s->Finish();
}

TEST_F(GrpcApiTest, ASlowSubscriberIsCutOffAndResumesWithoutAGap) {
  // Not a durability test: without fsyncs the posting is quick even when the
  // machine is busy.
  ASSERT_TRUE(Start("  subscriber_buffer: 20\n", "  fsync: never\n").ok());
  // A client that does not read: without BDP probing, gRPC's flow-control
  // window stays at 64 KiB, so corral's writes stall and its buffer fills.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  auto slow_channel = grpc::CreateCustomChannel(
      Target(), grpc::InsecureChannelCredentials(), args);
  Subscriber slow(slow_channel, v1::SubscribeRequest(), absl::Seconds(60));
  ASSERT_TRUE(WaitForSubscribers(1));

  constexpr int kAlerts = 600;
  const std::string padding(400, 'x');
  std::set<uint64_t> posted;
  for (int i = 0; i < kAlerts; ++i) {
    posted.insert(
        Post(AlertJson("Notice", absl::StrCat(i), "syscall", padding)));
  }
  ASSERT_TRUE(corral_->WaitForMetric("corral_grpc_subscriber_overflows_total 1",
                                     kWait));

  // It reads what was kept for it, in order, then learns it was cut off.
  std::set<uint64_t> received;
  uint64_t last = 0;
  v1::Alert alert;
  while (slow.reader->Read(&alert)) {
    EXPECT_GT(alert.seq(), last);
    last = alert.seq();
    received.insert(alert.seq());
  }
  grpc::Status status = slow.reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("subscriber too slow"));
  EXPECT_THAT(status.error_message(),
              HasSubstr(absl::StrCat("after_seq=", last)));
  ASSERT_LT(received.size(), posted.size());

  // Resuming from its last alert fills the rest: no gap, no repeat.
  v1::SubscribeRequest resume;
  resume.set_after_seq(last);
  Subscriber resumed(channel_, resume);
  std::vector<v1::Alert> rest = resumed.Read(posted.size() - received.size());
  for (const v1::Alert& a : rest) {
    EXPECT_TRUE(received.insert(a.seq()).second) << "repeated " << a.seq();
  }
  EXPECT_EQ(received, posted);
  resumed.Finish();
}

TEST_F(GrpcApiTest, ASubscriberThatStopsAnsweringIsDroppedByKeepalive) {
  ASSERT_TRUE(Start("  grpc_keepalive: 1s\n").ok());
  fakes::TcpProxy proxy(corral_->grpc_port());
  ASSERT_TRUE(proxy.Start().ok());
  auto far_channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", proxy.port()),
                          grpc::InsecureChannelCredentials());
  Subscriber far(far_channel, v1::SubscribeRequest(), absl::Seconds(60));
  Subscriber near(channel_, v1::SubscribeRequest(), absl::Seconds(60));
  ASSERT_TRUE(WaitForSubscribers(2));
  // Quiet streams of answering clients stay, however many pings go by.
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(WaitForSubscribers(2));

  // The far client's host vanishes: its connection neither closes nor answers.
  // Dropped once a ping goes unanswered for 20 s.
  proxy.Freeze();
  ASSERT_TRUE(
      corral_->WaitForMetric("corral_grpc_subscribers 1", absl::Seconds(40)));
  // The other one still gets alerts.
  const uint64_t seq = Post(AlertJson("Notice", "after"));
  std::vector<v1::Alert> got = near.Read(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq(), seq);
  near.Finish();
  far.context.TryCancel();
}

TEST_F(GrpcApiTest, FalcoSubAndGetSeeEveryAlertPostedOverHttp) {
  ASSERT_TRUE(Start().ok());
  auto stub = falco::outputs::service::NewStub(channel_);
  // Two sub clients: each sees every alert (fan-out), as Falco's own
  // consumers expect.
  struct Sub {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<falco::outputs::request,
                                             falco::outputs::response>>
        stream;
  };
  Sub subs[2];
  for (Sub& sub : subs) {
    sub.context.set_deadline(Deadline());
    sub.stream = stub->sub(&sub.context);
  }
  // get starts its queue with its first call.
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    auto reader = stub->get(&context, falco::outputs::request());
    falco::outputs::response response;
    EXPECT_FALSE(reader->Read(&response));
    EXPECT_TRUE(reader->Finish().ok());
  }
  ASSERT_TRUE(WaitForSubscribers(3));

  Post(AlertJson("Critical", "c", "syscall"));
  Post(AlertJson("Informational", "i", "k8s_audit"));
  Post(AlertJson("Emergency", "e", "gcp_auditlog"));

  for (Sub& sub : subs) {
    // One request drains what is pending: the three alerts, already accepted.
    ASSERT_TRUE(sub.stream->Write(falco::outputs::request()));
    std::vector<falco::outputs::response> got(3);
    for (falco::outputs::response& response : got) {
      ASSERT_TRUE(sub.stream->Read(&response));
    }
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].priority(), falco::schema::CRITICAL);
    EXPECT_EQ(got[0].source(), "syscall");
    EXPECT_EQ(got[0].source_deprecated(), falco::schema::SYSCALL);
    EXPECT_EQ(got[0].rule(), "Terminal shell in container");
    EXPECT_EQ(got[0].output_fields().at("proc.pid"), "4242");
    EXPECT_EQ(got[0].output_fields().at("evt.is_open"), "true");
    EXPECT_EQ(got[0].time().nanos(), 123456789);
    EXPECT_THAT(got[0].tags(), ::testing::ElementsAre("container", "T1059"));
    EXPECT_EQ(got[1].priority(), falco::schema::INFORMATIONAL);
    EXPECT_EQ(got[1].source_deprecated(), falco::schema::K8S_AUDIT);
    EXPECT_EQ(got[2].priority(), falco::schema::EMERGENCY);
    EXPECT_EQ(got[2].source(), "gcp_auditlog");
    EXPECT_EQ(got[2].source_deprecated(), falco::schema::PLUGIN);
    sub.stream->WritesDone();
    EXPECT_TRUE(sub.stream->Finish().ok());
  }

  // get: what is pending, then the end; the next get has nothing.
  for (int expected : {3, 0}) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    auto reader = stub->get(&context, falco::outputs::request());
    std::vector<std::string> markers;
    falco::outputs::response response;
    while (reader->Read(&response)) {
      markers.push_back(response.output_fields().at("marker"));
    }
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(markers.size(), static_cast<size_t>(expected));
    if (expected == 3) {
      EXPECT_THAT(markers, ::testing::ElementsAre("c", "i", "e"));
    }
  }
}

TEST_F(GrpcApiTest, ServesReflectionForEveryService) {
  ASSERT_TRUE(Start().ok());
  namespace reflection = grpc::reflection::v1alpha;
  grpc::ClientContext context;
  context.set_deadline(Deadline());
  auto stream =
      reflection::ServerReflection::NewStub(channel_)->ServerReflectionInfo(
          &context);
  reflection::ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  reflection::ServerReflectionResponse listed;
  ASSERT_TRUE(stream->Read(&listed));
  std::vector<std::string> services;
  for (const auto& service : listed.list_services_response().service()) {
    services.push_back(service.name());
  }
  EXPECT_THAT(services, ::testing::IsSupersetOf({"corral.v1.Alerts",
                                                 "falco.outputs.service",
                                                 "grpc.health.v1.Health"}));

  reflection::ServerReflectionRequest file;
  file.set_file_containing_symbol("corral.v1.Alerts");
  ASSERT_TRUE(stream->Write(file));
  reflection::ServerReflectionResponse described;
  ASSERT_TRUE(stream->Read(&described));
  ASSERT_TRUE(described.has_file_descriptor_response())
      << described.error_response().error_message();
  EXPECT_GE(described.file_descriptor_response().file_descriptor_proto_size(),
            1);
  EXPECT_THAT(described.file_descriptor_response().file_descriptor_proto(0),
              HasSubstr("corral/v1/alerts.proto"));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GrpcApiTest, TheBearerTokenGuardsEveryAlertRpcButNotHealth) {
  ASSERT_TRUE(Start("  auth_token: s3cr3t-grpc-token\n").ok());
  v1::PublishResponse response;
  grpc::Status status = Publish(ProtoAlert(v1::PRIORITY_ERROR, "x"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  status = Publish(ProtoAlert(v1::PRIORITY_ERROR, "x"), &response, "wrong");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  status = Publish(ProtoAlert(v1::PRIORITY_ERROR, "x"), &response,
                   "s3cr3t-grpc-token");
  EXPECT_TRUE(status.ok()) << status.error_message();

  Subscriber subscriber(channel_, v1::SubscribeRequest());
  EXPECT_TRUE(subscriber.Read(1).empty());
  EXPECT_EQ(subscriber.reader->Finish().error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    auto reader = falco::outputs::service::NewStub(channel_)->get(
        &context, falco::outputs::request());
    falco::outputs::response ignored;
    EXPECT_FALSE(reader->Read(&ignored));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    grpc::health::v1::HealthCheckResponse health;
    EXPECT_TRUE(
        grpc::health::v1::Health::NewStub(channel_)
            ->Check(&context, grpc::health::v1::HealthCheckRequest(), &health)
            .ok());
  }
  EXPECT_THAT(corral_->Metrics(), Not(HasSubstr("s3cr3t-grpc-token")));
  EXPECT_THAT(corral_->Stderr(), Not(HasSubstr("s3cr3t-grpc-token")));
  EXPECT_THAT(corral_->Stdout(), Not(HasSubstr("s3cr3t-grpc-token")));
}

TEST_F(GrpcApiTest, MutualTlsOnTheGrpcPortNeedsAClientCertificate) {
  const std::string certs_dir = dir_ + "-certs";
  std::filesystem::create_directories(certs_dir);
  absl::StatusOr<fakes::TestCerts> certs = fakes::GenerateTestCerts(certs_dir);
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_TRUE(
      Start(absl::StrCat("  tls:\n    cert_file: ", certs->server_cert,
                         "\n    key_file: ", certs->server_key,
                         "\n    client_ca_file: ", certs->ca_cert, "\n"))
          .ok());
  auto read = [](const std::string& path) {
    return core::ReadFileToString(path).value_or("");
  };
  grpc::SslCredentialsOptions with_cert;
  with_cert.pem_root_certs = read(certs->ca_cert);
  with_cert.pem_cert_chain = read(certs->client_cert);
  with_cert.pem_private_key = read(certs->client_key);
  channel_ = grpc::CreateChannel(Target(), grpc::SslCredentials(with_cert));
  v1::PublishResponse response;
  grpc::Status status =
      Publish(ProtoAlert(v1::PRIORITY_ERROR, "tls"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));

  grpc::SslCredentialsOptions without_cert;
  without_cert.pem_root_certs = read(certs->ca_cert);
  channel_ = grpc::CreateChannel(Target(), grpc::SslCredentials(without_cert));
  status = Publish(ProtoAlert(v1::PRIORITY_ERROR, "tls"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);

  channel_ = grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials());
  status = Publish(ProtoAlert(v1::PRIORITY_ERROR, "tls"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(receiver_.RequestCount(), 1u);
}

TEST_F(GrpcApiTest, APublishOverMaxBodyBytesIsResourceExhaustedAndNotTaken) {
  ASSERT_TRUE(Start("  max_body_bytes: 4KiB\n").ok());
  v1::Alert big = ProtoAlert(v1::PRIORITY_ERROR, "big");
  (*big.mutable_output_fields())["padding"].set_string_value(
      std::string(8 << 10, 'p'));
  v1::PublishResponse response;
  grpc::Status status = Publish(big, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("larger than max"));
  // The same channel goes on working; only the alert within the limit is
  // delivered.
  status = Publish(ProtoAlert(v1::PRIORITY_ERROR, "fits"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  ASSERT_EQ(receiver_.RequestCount(), 1u);
  EXPECT_THAT(receiver_.Requests()[0].body, HasSubstr("\"marker\":\"fits\""));
}

TEST_F(GrpcApiTest, SigtermEndsSubscriptionsAfterTheLastAcceptedAlert) {
  ASSERT_TRUE(Start().ok());
  Subscriber subscriber(channel_, v1::SubscribeRequest());
  ASSERT_TRUE(WaitForSubscribers(1));
  const uint64_t seq = Post(AlertJson("Warning", "last"));
  corral_->Signal(SIGTERM);
  std::vector<v1::Alert> got = subscriber.Read(2);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].seq(), seq);
  grpc::Status status = subscriber.reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(),
              HasSubstr(absl::StrCat("after_seq=", seq)));
  absl::StatusOr<int> exit = corral_->Stop(SIGTERM, kWait);
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(*exit, 0);
}

// A stream that ends before it sent anything says to resume after the last
// alert before it started (also across a restart), not after 0, which would
// replay everything retained.
TEST_F(GrpcApiTest, AStreamEndedBeforeItsFirstAlertResumesFromWhereItStarted) {
  ASSERT_TRUE(Start().ok());
  uint64_t last = 0;
  for (int i = 0; i < 3; ++i) last = Post(AlertJson("Warning", "before"));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  corral_ = std::make_unique<CorralProcess>(dir_, /*keep=*/true);
  ASSERT_TRUE(Start().ok());

  Subscriber subscriber(channel_, v1::SubscribeRequest());
  ASSERT_TRUE(WaitForSubscribers(1));
  corral_->Signal(SIGTERM);
  EXPECT_TRUE(subscriber.Read(1).empty());
  grpc::Status status = subscriber.reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(),
              HasSubstr(absl::StrCat("after_seq=", last)));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
}

}  // namespace
}  // namespace corral::e2e
