#include "tests/fakes/fake_falco_grpc.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "falco/outputs.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/fakes/grpc_server_credentials.h"
#include "tests/fakes/held_port.h"

namespace corral::fakes {
namespace {

namespace outputs = ::falco::outputs;

}  // namespace

struct FakeFalcoGrpc::Impl : public outputs::service::Service {
  explicit Impl(FakeTlsOptions tls_options) : tls(std::move(tls_options)) {}

  // Pops the next queued alert, if any.
  std::optional<outputs::response> Pop() {
    absl::MutexLock lock(&mu);
    if (queue.empty()) return std::nullopt;
    outputs::response r = std::move(queue.front());
    queue.pop_front();
    return r;
  }

  // Writes everything queued, one alert at a time (as Falco's try_pop loop
  // did); false once a write fails (that alert is gone).
  template <typename Writer>
  bool Drain(Writer* writer) {
    while (std::optional<outputs::response> r = Pop()) {
      if (!writer->Write(*r)) return false;
      absl::MutexLock lock(&mu);
      ++sent;
      ++version;
    }
    return true;
  }

  grpc::Status sub(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<outputs::response, outputs::request>* stream)
      override {
    {
      absl::MutexLock lock(&mu);
      ++sub_streams;
      ++open_sub_streams;
      ++version;
    }
    outputs::request request;
    while (stream->Read(&request)) {
      {
        absl::MutexLock lock(&mu);
        ++sub_requests;
        ++version;
      }
      if (!Drain(stream)) break;
    }
    absl::MutexLock lock(&mu);
    --open_sub_streams;
    ++version;
    return context->IsCancelled()
               ? grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")
               : grpc::Status::OK;
  }

  grpc::Status get(grpc::ServerContext* context,
                   const outputs::request* request,
                   grpc::ServerWriter<outputs::response>* writer) override {
    {
      absl::MutexLock lock(&mu);
      ++get_calls;
      ++version;
    }
    Drain(writer);
    return grpc::Status::OK;
  }

  const FakeTlsOptions tls;
  // gRPC starts no server without a service: when playing a Falco without
  // the gRPC output, this one (every method unimplemented) stands in for
  // whatever else the peer serves.
  grpc::health::v1::Health::Service other_service;
  std::mutex lifecycle_mu;
  std::unique_ptr<grpc::Server> server;
  HeldPort held_port;
  std::atomic<int> port{0};
  std::string unix_path;  // serving a unix socket (lifecycle_mu)

  mutable absl::Mutex mu;
  std::deque<outputs::response> queue ABSL_GUARDED_BY(mu);
  bool unimplemented ABSL_GUARDED_BY(mu) = false;
  int64_t sent ABSL_GUARDED_BY(mu) = 0;
  int64_t sub_requests ABSL_GUARDED_BY(mu) = 0;
  int sub_streams ABSL_GUARDED_BY(mu) = 0;
  int open_sub_streams ABSL_GUARDED_BY(mu) = 0;
  int get_calls ABSL_GUARDED_BY(mu) = 0;
  uint64_t version ABSL_GUARDED_BY(mu) = 0;  // bumped on every change
};

FakeFalcoGrpc::FakeFalcoGrpc(FakeTlsOptions tls)
    : impl_(std::make_unique<Impl>(std::move(tls))) {}

FakeFalcoGrpc::~FakeFalcoGrpc() { Stop(); }

absl::Status FakeFalcoGrpc::Start(int port) {
  return StartAt(absl::StrCat("127.0.0.1:", port), port);
}

absl::Status FakeFalcoGrpc::StartUnix(const std::string& path) {
  return StartAt(absl::StrCat("unix:", path), -1);
}

absl::Status FakeFalcoGrpc::StartAt(const std::string& listen, int port) {
  std::lock_guard<std::mutex> lifecycle(impl_->lifecycle_mu);
  if (impl_->server != nullptr) {
    return absl::FailedPreconditionError("fake Falco already started");
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      GrpcServerCredentials(impl_->tls);
  if (!credentials.ok()) return credentials.status();
  bool unimplemented;
  {
    absl::MutexLock lock(&impl_->mu);
    unimplemented = impl_->unimplemented;
  }
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(listen, *credentials,
                           port >= 0 ? &bound_port : nullptr);
  // Without this gRPC sets SO_REUSEPORT, and Start() on a port in use would
  // "succeed".
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(
      unimplemented ? static_cast<grpc::Service*>(&impl_->other_service)
                    : impl_.get());
  impl_->held_port.Release();
  impl_->server = builder.BuildAndStart();
  if (impl_->server == nullptr || (port >= 0 && bound_port == 0)) {
    impl_->server.reset();
    return absl::UnavailableError(
        absl::StrCat("fake Falco cannot listen on ", listen));
  }
  if (port >= 0) {
    impl_->port = bound_port;
    impl_->unix_path.clear();
  } else {
    impl_->unix_path = listen.substr(5);  // after "unix:"
  }
  return absl::OkStatus();
}

void FakeFalcoGrpc::Stop() {
  std::lock_guard<std::mutex> lifecycle(impl_->lifecycle_mu);
  if (impl_->server == nullptr) return;
  // Cancels every call at once: the streams end as when Falco goes away.
  impl_->server->Shutdown(absl::ToChronoTime(absl::Now()));
  impl_->server->Wait();
  impl_->server.reset();
  if (impl_->unix_path.empty()) {
    impl_->held_port.Hold(impl_->port.load());
  } else {
    ::unlink(impl_->unix_path.c_str());
  }
}

int FakeFalcoGrpc::port() const { return impl_->port.load(); }

std::string FakeFalcoGrpc::address() const {
  std::lock_guard<std::mutex> lifecycle(impl_->lifecycle_mu);
  if (!impl_->unix_path.empty())
    return absl::StrCat("unix://", impl_->unix_path);
  return absl::StrCat("127.0.0.1:", impl_->port.load());
}

void FakeFalcoGrpc::Push(falco::outputs::response response) {
  absl::MutexLock lock(&impl_->mu);
  impl_->queue.push_back(std::move(response));
  ++impl_->version;
}

void FakeFalcoGrpc::SetUnimplemented(bool unimplemented) {
  absl::MutexLock lock(&impl_->mu);
  impl_->unimplemented = unimplemented;
}

size_t FakeFalcoGrpc::Queued() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->queue.size();
}

int64_t FakeFalcoGrpc::Sent() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->sent;
}

int64_t FakeFalcoGrpc::SubRequests() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->sub_requests;
}

int FakeFalcoGrpc::SubStreams() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->sub_streams;
}

int FakeFalcoGrpc::OpenSubStreams() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->open_sub_streams;
}

int FakeFalcoGrpc::GetCalls() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->get_calls;
}

bool FakeFalcoGrpc::WaitFor(const std::function<bool()>& cond,
                            absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    uint64_t seen;
    {
      absl::MutexLock lock(&impl_->mu);
      seen = impl_->version;
    }
    if (cond()) return true;
    if (absl::Now() >= deadline) return false;
    absl::MutexLock lock(&impl_->mu);
    auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) {
      return impl_->version != seen;
    };
    // The timeout bounds the wait for conditions on the client's side.
    impl_->mu.AwaitWithTimeout(
        absl::Condition(&changed),
        std::min(absl::Milliseconds(20), deadline - absl::Now()));
  }
}

falco::outputs::response MakeFalcoResponse(
    absl::string_view rule, falco::schema::priority priority, absl::Time time,
    const std::map<std::string, std::string>& fields) {
  falco::outputs::response r;
  const absl::Duration since_epoch = time - absl::UnixEpoch();
  const int64_t seconds = absl::ToInt64Seconds(since_epoch);
  r.mutable_time()->set_seconds(seconds);
  r.mutable_time()->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
  r.set_priority(priority);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  r.set_source_deprecated(falco::schema::SYSCALL);
#pragma GCC diagnostic pop
  r.set_rule(std::string(rule));
  r.set_output(absl::StrCat("Falco alert: ", rule));
  for (const auto& [key, value] : fields) {
    (*r.mutable_output_fields())[key] = value;
  }
  r.set_hostname("falco-node");
  r.add_tags("container");
  r.set_source("syscall");
  return r;
}

}  // namespace corral::fakes
