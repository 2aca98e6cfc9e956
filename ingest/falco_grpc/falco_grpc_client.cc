#include "ingest/falco_grpc/falco_grpc_client.h"

#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <algorithm>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/backoff.h"
#include "core/file_util.h"
#include "core/log.h"
#include "falco/outputs.grpc.pb.h"
#include "ingest/falco_grpc/alert_submitter.h"
#include "ingest/falco_grpc/falco_response.h"

namespace corral::ingest::falco_grpc {
namespace {

// A stream that lasted this long was healthy: the next reconnect starts from
// the initial backoff again.
constexpr absl::Duration kHealthyStream = absl::Seconds(10);

// Failed streams in a row before the failure is an error worth an operator's
// attention rather than a routine reconnect.
constexpr int kFailuresBeforeError = 3;

void NameThread(absl::string_view name) {
  // Linux limits thread names to 15 characters.
  std::string n(name.substr(0, 15));
  pthread_setname_np(pthread_self(), n.c_str());
}

int Milliseconds(absl::Duration d) {
  return static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

absl::StatusOr<std::string> ReadTlsFile(const FalcoGrpcConfig& c,
                                        absl::string_view key,
                                        const std::string& file) {
  if (file.empty()) return std::string();
  absl::StatusOr<std::string> text = core::ReadFileToString(file);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(c.path, ".tls.", key,
                                                   ": cannot read ", file, ": ",
                                                   text.status().message()));
  }
  return text;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FalcoGrpcClient>> FalcoGrpcClient::Create(
    FalcoGrpcConfig config, core::Intake* intake,
    core::RejectedInputSink dead_letters, core::MetricsRegistry* metrics,
    const std::string& machine_hostname, FalcoGrpcClientOptions tuning) {
  FalcoGrpcClientOptions options = std::move(tuning);
  options.name = config.name;
  options.address = config.address;
  options.poll_interval = config.poll_interval;
  options.default_hostname = !config.hostname.empty() ? config.hostname
                             : config.unix_socket     ? machine_hostname
                                                      : config.host();

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  std::string security;
  if (config.tls()) {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca =
        ReadTlsFile(config, "ca_file", config.ca_file);
    if (!ca.ok()) return ca.status();
    absl::StatusOr<std::string> cert =
        ReadTlsFile(config, "cert_file", config.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key =
        ReadTlsFile(config, "key_file", config.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_root_certs = *std::move(ca);
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
    security = ssl.pem_cert_chain.empty() ? "TLS" : "mutual TLS";
    credentials = grpc::SslCredentials(ssl);
  } else {
    security = config.unix_socket ? "unix socket" : "plaintext";
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetUserAgentPrefix("corral/" CORRAL_VERSION);
  if (config.tls() && !config.server_name.empty()) {
    args.SetSslTargetNameOverride(config.server_name);
  }
  // gRPC's own reconnect backoff (1 s doubling to 120 s by default) would
  // otherwise keep failing the streams corral opens long after Falco is back.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              Milliseconds(options.initial_backoff));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              Milliseconds(options.initial_backoff));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              Milliseconds(options.max_backoff));
  options.channel =
      grpc::CreateCustomChannel(config.address, credentials, args);

  auto client = std::make_unique<FalcoGrpcClient>(
      std::move(options), intake, std::move(dead_letters), metrics);
  client->security_ = std::move(security);
  return client;
}

FalcoGrpcClient::FalcoGrpcClient(FalcoGrpcClientOptions options,
                                 core::Intake* intake,
                                 core::RejectedInputSink dead_letters,
                                 core::MetricsRegistry* metrics)
    : options_(std::move(options)) {
  submitter_ = std::make_unique<AlertSubmitter>(
      AlertSubmitterOptions{
          .name = options_.name,
          .initial_backoff = options_.initial_refusal_backoff,
          .max_backoff = options_.max_refusal_backoff,
      },
      intake, std::move(dead_letters), metrics, core::Clock::Real(),
      [this] { Wake(); });
  const std::vector<std::string> labels = {options_.name};
  received_ = metrics
                  ->AddCounter("corral_falco_grpc_received_total",
                               "Responses received from Falco's gRPC output.",
                               {"connection"})
                  ->With(labels);
  requests_ = metrics
                  ->AddCounter("corral_falco_grpc_requests_total",
                               "Poll requests sent to Falco's gRPC output.",
                               {"connection"})
                  ->With(labels);
  reconnects_ = metrics
                    ->AddCounter("corral_falco_grpc_reconnects_total",
                                 "Streams to Falco opened again after one "
                                 "ended or failed.",
                                 {"connection"})
                    ->With(labels);
  stream_ends_ = metrics->AddCounter(
      "corral_falco_grpc_stream_ends_total",
      "Streams to Falco that ended or failed, by gRPC status code "
      "(UNIMPLEMENTED: the peer has no gRPC output, Falco 0.44 or later).",
      {"connection", "code"});
  connected_ =
      metrics
          ->AddGauge(
              "corral_falco_grpc_connected",
              "1 while a stream to Falco is open and has taken a request.",
              {"connection"})
          ->With(labels);
}

FalcoGrpcClient::~FalcoGrpcClient() {
  Stop(absl::Now());
  // Before the members its answers would reach (Wake()) are gone.
  submitter_.reset();
}

void FalcoGrpcClient::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  stream_thread_ = std::thread([this] {
    NameThread(absl::StrCat("falco:", options_.name));
    StreamLoop();
  });
  work_thread_ = std::thread([this] {
    NameThread(absl::StrCat("falco:", options_.name));
    WorkLoop();
  });
}

void FalcoGrpcClient::BeginStop() {
  absl::MutexLock lock(&mu_);
  if (!started_ || stopping_) return;
  stopping_ = true;
  wake_ = true;  // the work thread half-closes the stream
}

void FalcoGrpcClient::Stop(absl::Time deadline) {
  absl::MutexLock stop_lock(&stop_mu_);
  BeginStop();
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    stop_deadline_ = deadline;
    wake_ = true;
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stream_ended_;
    };
    mu_.AwaitWithDeadline(
        absl::Condition(&ended),
        std::min(deadline, absl::Now() + options_.stop_grace));
    // Falco did not end the stream: what it still sends is lost to corral.
    if (!stream_ended_ && context_ != nullptr) context_->TryCancel();
  }
  stream_thread_.join();
  work_thread_.join();
  const size_t abandoned = submitter_->Abandon(
      "corral stopped before the intake accepted the alert");
  if (abandoned > 0) {
    core::LogWarn(
        "Falco alerts not accepted before stopping: dead-lettered",
        {{"connection", options_.name}, {"alerts", absl::StrCat(abandoned)}});
  }
  absl::MutexLock lock(&mu_);
  abandoned_ = abandoned;
}

size_t FalcoGrpcClient::abandoned() const {
  absl::MutexLock lock(&mu_);
  return abandoned_;
}

void FalcoGrpcClient::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void FalcoGrpcClient::StreamLoop() {
  absl::BitGen jitter;
  int failures = 0;  // streams in a row that delivered nothing
  bool unimplemented_logged = false;
  while (true) {
    const absl::Time opened = absl::Now();
    const StreamResult result = RunStream();
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    failures = (result.delivered || absl::Now() - opened >= kHealthyStream)
                   ? 0
                   : failures + 1;
    absl::Duration wait;
    if (result.code == absl::StatusCode::kUnimplemented) {
      wait = options_.max_backoff;
      if (!unimplemented_logged) {
        unimplemented_logged = true;
        core::LogError(
            "the peer has no Falco gRPC output (UNIMPLEMENTED): it is "
            "probably Falco 0.44 or later, which removed it; point Falco's "
            "http_output at corral instead. Retrying slowly",
            {{"connection", options_.name},
             {"address", options_.address},
             {"retry_every", absl::FormatDuration(wait)}});
      }
    } else {
      if (result.delivered) unimplemented_logged = false;
      wait = core::FullJitterBackoff(options_.initial_backoff,
                                     options_.max_backoff,
                                     std::max(failures, 1), jitter);
      // Falco restarting ends streams now and then: reconnecting is routine
      // until it keeps failing (unreachable, TLS refused, ...).
      const bool routine = result.code == absl::StatusCode::kOk ||
                           failures < kFailuresBeforeError;
      core::Log(routine ? core::LogLevel::kInfo : core::LogLevel::kError,
                routine ? "Falco gRPC stream ended; reconnecting"
                        : "cannot read Falco's gRPC output; retrying",
                {{"connection", options_.name},
                 {"address", options_.address},
                 {"code", absl::StatusCodeToString(result.code)},
                 {"error", result.error},
                 {"attempts", absl::StrCat(failures)}});
    }
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), wait);
    if (stopping_) break;
  }
  absl::MutexLock lock(&mu_);
  stream_ended_ = true;
  wake_ = true;
}

FalcoGrpcClient::StreamResult FalcoGrpcClient::RunStream() {
  auto stub = falco::outputs::service::NewStub(options_.channel);
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return {};
    context_ = &context;
    if (++streams_opened_ > 1) reconnects_->Inc();
  }
  std::unique_ptr<Stream> stream = stub->sub(&context);
  {
    absl::MutexLock lock(&write_mu_);
    stream_ = stream.get();
  }
  {
    // The work thread sends the first request as soon as polling is allowed
    // (not while refused alerts are held).
    absl::MutexLock lock(&mu_);
    stream_up_ = true;
    half_closed_ = false;
    next_poll_ = absl::InfinitePast();
    wake_ = true;
  }
  StreamResult result;
  falco::outputs::response response;
  while (stream->Read(&response)) {
    result.delivered = true;
    OnResponse(response);
  }
  {
    absl::MutexLock lock(&mu_);
    stream_up_ = false;
  }
  {
    absl::MutexLock lock(&write_mu_);
    stream_ = nullptr;
    // After the last write that could have set it.
    connected_->Set(0);
  }
  const grpc::Status status = stream->Finish();
  {
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
  }
  // gRPC's codes are absl's.
  result.code = static_cast<absl::StatusCode>(status.error_code());
  stream_ends_->With({options_.name, absl::StatusCodeToString(result.code)})
      ->Inc();
  result.error = status.error_message();
  return result;
}

void FalcoGrpcClient::OnResponse(const falco::outputs::response& response) {
  received_->Inc();
  absl::StatusOr<core::Alert> alert =
      AlertFromResponse(response, options_.default_hostname);
  if (alert.ok()) {
    submitter_->Add(*std::move(alert));
  } else {
    submitter_->AddUnconvertible(alert.status().message(),
                                 ResponseToJson(response));
  }
  Wake();
}

void FalcoGrpcClient::WorkLoop() {
  const falco::outputs::request request;
  absl::Time pump_at = absl::InfinitePast();
  while (true) {
    bool poll = false;
    bool half_close = false;
    {
      absl::MutexLock lock(&mu_);
      auto may_poll = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stream_up_ && !stopping_ && !submitter_->holding() &&
               submitter_->unaccepted() < options_.max_unaccepted;
      };
      absl::Time until = pump_at;
      // Stop's deadline counts once nothing more can come from Falco.
      if (stream_ended_) until = std::min(until, stop_deadline_);
      if (may_poll()) until = std::min(until, next_poll_);
      auto woken = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_; };
      mu_.AwaitWithDeadline(absl::Condition(&woken), until);
      wake_ = false;
      const absl::Time now = absl::Now();
      if (stopping_ && stream_ended_ &&
          (submitter_->unaccepted() == 0 || now >= stop_deadline_)) {
        return;
      }
      if (stopping_ && stream_up_ && !half_closed_) {
        half_closed_ = true;
        half_close = true;
      }
      if (may_poll() && now >= next_poll_) {
        poll = true;
        next_poll_ = now + options_.poll_interval;
      }
    }
    bool sent = false;
    if (half_close || poll) {
      absl::MutexLock lock(&write_mu_);
      if (stream_ != nullptr) {
        if (half_close) {
          stream_->WritesDone();
        } else {
          sent = stream_->Write(request);
          // A request went out: the stream reaches Falco.
          if (sent) connected_->Set(1);
        }
      }
    }
    if (sent) requests_->Inc();
    pump_at = submitter_->Pump();
  }
}

}  // namespace corral::ingest::falco_grpc
