#ifndef CORRAL_INGEST_FALCO_GRPC_FALCO_GRPC_CLIENT_H_
#define CORRAL_INGEST_FALCO_GRPC_FALCO_GRPC_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/intake.h"
#include "core/metrics.h"
#include "ingest/falco_grpc/falco_grpc_config.h"

namespace grpc {
class Channel;
class ClientContext;
template <class W, class R>
class ClientReaderWriter;
}  // namespace grpc

namespace falco::outputs {
class request;
class response;
}  // namespace falco::outputs

namespace corral::ingest::falco_grpc {

class AlertSubmitter;

struct FalcoGrpcClientOptions {
  std::string name;     // the connection, for logs and metric labels
  std::string address;  // for logs
  std::shared_ptr<grpc::Channel> channel;
  absl::Duration poll_interval = absl::Milliseconds(100);
  std::string default_hostname;  // for alerts that carry none
  // Reconnects wait from initial_backoff, doubling up to max_backoff, with
  // full jitter; back to initial after a stream that delivered alerts or
  // lasted a while. A peer answering UNIMPLEMENTED (Falco 0.44 and later, which
  // removed the gRPC output) is tried again every max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(30);
  // Refused submissions (AlertSubmitterOptions).
  absl::Duration initial_refusal_backoff = absl::Milliseconds(100);
  absl::Duration max_refusal_backoff = absl::Seconds(10);
  // Polling pauses while this many alerts are received and not yet accepted.
  size_t max_unaccepted = 10000;
  // At Stop(), how long the stream may take to end once corral has
  // half-closed it (alerts Falco already sent are still read).
  absl::Duration stop_grace = absl::Seconds(2);
};

// One `ingest.falco_grpc` entry at work: a client of Falco's gRPC output.
//   - keeps one `falco.outputs.service/sub` stream open, reopened with backoff
//     whenever it ends;
//   - polls: sends a `request` as soon as the stream opens and then every
//     poll_interval (each request makes Falco stream everything it has
//     queued), but none while the intake refuses alerts or too many wait for
//     it, so that alerts wait in Falco rather than in corral;
//   - turns each `response` into an alert (AlertFromResponse) and hands it to
//     the intake through an AlertSubmitter, which holds refused alerts until
//     they are accepted and dead-letters what cannot be an alert.
// Metrics, labelled {connection}: corral_falco_grpc_received_total,
// _requests_total, _reconnects_total, _stream_ends_total{code}, the gauge
// _connected, and the AlertSubmitter's.
// Thread-safe; threads are named "falco:<name>".
class FalcoGrpcClient {
 public:
  // Reads the certificate files and prepares the channel; connects nothing
  // yet. `machine_hostname` is this machine's name (the alerts' hostname for a
  // unix socket, when Falco sends none). `tuning` gives the backoffs and
  // limits; its name, address, channel, poll_interval and default_hostname
  // come from `config`. Errors name the entry (config.path) and what is wrong.
  static absl::StatusOr<std::unique_ptr<FalcoGrpcClient>> Create(
      FalcoGrpcConfig config, core::Intake* intake,
      core::RejectedInputSink dead_letters, core::MetricsRegistry* metrics,
      const std::string& machine_hostname, FalcoGrpcClientOptions tuning = {});

  FalcoGrpcClient(FalcoGrpcClientOptions options, core::Intake* intake,
                  core::RejectedInputSink dead_letters,
                  core::MetricsRegistry* metrics);
  ~FalcoGrpcClient();  // Stop(Now()) if still running

  void Start();
  // Stops polling and half-closes the stream (Falco then ends it); returns at
  // once, so that several clients can stop in parallel.
  void BeginStop();
  // BeginStop(), then reads what Falco still sends (up to stop_grace), and
  // keeps submitting until every received alert is accepted or `deadline`
  // passes; what is still not accepted then goes to the dead-letter file.
  // Call before the intake stops. Idempotent.
  void Stop(absl::Time deadline);

  const std::string& name() const { return options_.name; }
  const std::string& address() const { return options_.address; }
  // "unix socket", "mutual TLS", "TLS" or "plaintext" (set by Create).
  const std::string& security() const { return security_; }
  // Alerts dead-lettered at Stop().
  size_t abandoned() const;

 private:
  using Stream = grpc::ClientReaderWriter<falco::outputs::request,
                                          falco::outputs::response>;
  struct StreamResult {
    bool delivered = false;  // at least one response came
    absl::StatusCode code = absl::StatusCode::kOk;  // how it ended
    std::string error;
  };

  void StreamLoop();
  StreamResult RunStream();
  void OnResponse(const falco::outputs::response& response);
  void WorkLoop();
  void Wake();

  const FalcoGrpcClientOptions options_;
  std::string security_;
  std::unique_ptr<AlertSubmitter> submitter_;

  core::Counter* received_;
  core::Counter* requests_;
  core::Counter* reconnects_;
  core::CounterFamily* stream_ends_;
  core::Gauge* connected_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool stream_ended_ ABSL_GUARDED_BY(mu_) = false;  // the stream thread is done
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  // The work thread gives up on unaccepted alerts then (Stop's deadline).
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stream_up_ ABSL_GUARDED_BY(mu_) = false;  // open for writes
  bool half_closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_poll_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t streams_opened_ ABSL_GUARDED_BY(mu_) = 0;
  size_t abandoned_ ABSL_GUARDED_BY(mu_) = 0;

  // Held while writing and while the stream is swapped: one writer at a
  // time, and the stream outlives every write.
  absl::Mutex write_mu_ ABSL_ACQUIRED_AFTER(mu_);
  Stream* stream_ ABSL_GUARDED_BY(write_mu_) = nullptr;

  absl::Mutex stop_mu_;  // one Stop() at a time
  std::thread stream_thread_;
  std::thread work_thread_;
};

}  // namespace corral::ingest::falco_grpc

#endif  // CORRAL_INGEST_FALCO_GRPC_FALCO_GRPC_CLIENT_H_
