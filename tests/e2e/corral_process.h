#ifndef CORRAL_TESTS_E2E_CORRAL_PROCESS_H_
#define CORRAL_TESTS_E2E_CORRAL_PROCESS_H_

#include <sys/types.h>

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace corral::e2e {

// Runs the real corral binary in a scratch directory, with stdout and stderr in
// files, and finds the ports it bound from its "listening" log line. The
// destructor kills it if still running.
class CorralProcess {
 public:
  // `dir` is the working directory (created); config goes to dir/corral.yaml
  // when given.
  explicit CorralProcess(std::string dir, bool keep = false);
  ~CorralProcess();

  // Starts `corral [args...]` with `env` added to this process's environment.
  absl::Status Start(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env = {});
  // Starts `corral -c <dir>/corral.yaml` after writing `config` there, and
  // waits until it listens (bounded).
  absl::Status StartWithConfig(
      const std::string& config,
      const std::map<std::string, std::string>& env = {});
  // Waits for the "listening" line and reads the ports from it.
  absl::Status WaitListening(absl::Duration timeout);

  // Sends `signal` and waits (bounded) for the exit; returns the exit code, or
  // -signal when it died of a signal, or an error when it did not exit in time
  // (it is then killed).
  absl::StatusOr<int> Stop(int signal, absl::Duration timeout);
  // Sends `signal` without waiting.
  void Signal(int signal);
  // Runs to completion (for one-shot commands); returns the exit code.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // GET /metrics (empty when it fails).
  std::string Metrics() const;
  // Polls /metrics until it contains `line`; false if `timeout` passes first.
  bool WaitForMetric(absl::string_view line, absl::Duration timeout) const;
  // The value of the sample `series` (name and labels, e.g.
  // corral_retries_total{output="s3"}) in /metrics now; nullopt when absent.
  std::optional<double> MetricValue(absl::string_view series) const;
  // Polls /metrics until the sample `series` (name and labels, e.g.
  // corral_retries_total{output="s3"}) is at least `at_least`; false if
  // `timeout` passes first.
  bool WaitForMetricAtLeast(absl::string_view series, double at_least,
                            absl::Duration timeout) const;
  // The value of the sample `series` in a /metrics text; nullopt when
  // absent.
  static std::optional<double> MetricIn(absl::string_view metrics,
                                        absl::string_view series);
  // Writes `config` to dir/corral.yaml (the file StartWithConfig runs with),
  // sends SIGHUP, and waits for the reload's outcome in /metrics: true when
  // it was applied, false when refused; an error when none showed in time.
  absl::StatusOr<bool> ReloadWithConfig(const std::string& config,
                                        absl::Duration timeout);
  // The lines of data/dead-letter.jsonl under dir() (the spool dir the e2e
  // configs use), parsed.
  std::vector<boost::json::object> DeadLetters() const;
  // Polls DeadLetters() until there is at least one; what it holds then, or
  // none if `timeout` passes first.
  std::vector<boost::json::object> WaitForDeadLetters(
      absl::Duration timeout) const;

  int http_port() const { return http_port_; }
  int grpc_port() const { return grpc_port_; }
  std::string HttpUrl(absl::string_view path = "/") const;
  std::string Stdout() const;
  std::string Stderr() const;
  const std::string& dir() const { return dir_; }

 private:
  const std::string dir_;
  pid_t pid_ = -1;
  int http_port_ = 0;
  int grpc_port_ = 0;
};

}  // namespace corral::e2e

#endif  // CORRAL_TESTS_E2E_CORRAL_PROCESS_H_
