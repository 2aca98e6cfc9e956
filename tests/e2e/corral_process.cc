#include "tests/e2e/corral_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/file_util.h"
#include "core/http_client.h"
#include "gtest/gtest.h"

extern char** environ;

namespace corral::e2e {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The port in "key=host:PORT" within a log line.
int PortAfter(const std::string& line, const std::string& key) {
  size_t at = line.find(key + "=");
  if (at == std::string::npos) return 0;
  size_t end = line.find(' ', at);
  std::string value =
      line.substr(at, end == std::string::npos ? std::string::npos : end - at);
  int port = 0;
  if (!absl::SimpleAtoi(value.substr(value.rfind(':') + 1), &port)) return 0;
  return port;
}

// In the sanitizer build (scripts/test-sanitized) a report in corral's stderr
// fails the test, whatever the exit code: a test that expects exit code 1, or
// kills corral, would not notice it otherwise.
void ExpectNoSanitizerReport(const std::string& stderr_text) {
  for (absl::string_view marker :
       {"SUMMARY: AddressSanitizer", "SUMMARY: LeakSanitizer",
        "SUMMARY: UndefinedBehaviorSanitizer", "runtime error: "}) {
    if (absl::StrContains(stderr_text, marker)) {
      ADD_FAILURE() << "corral's stderr holds a sanitizer report:\n"
                    << stderr_text;
      return;
    }
  }
}

}  // namespace

CorralProcess::CorralProcess(std::string dir, bool keep)
    : dir_(std::move(dir)) {
  if (!keep) std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
}

CorralProcess::~CorralProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    ExpectNoSanitizerReport(Stderr());
  }
}

absl::Status CorralProcess::Start(
    const std::vector<std::string>& args,
    const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv_storage = {CORRAL_BINARY};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    if (env.count(entry.substr(0, entry.find('='))) == 0)
      env_storage.push_back(entry);
  }
  for (const auto& [key, value] : env)
    env_storage.push_back(absl::StrCat(key, "=", value));
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO,
                                   (dir_ + "/stdout").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO,
                                   (dir_ + "/stderr").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
  // Nothing else of this process's: an inherited listening socket of a fake
  // would keep accepting connections (and never answer) after the fake
  // stopped.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  int rc = posix_spawn(&pid_, CORRAL_BINARY, &actions, nullptr, argv.data(),
                       envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    return absl::InternalError(
        absl::StrCat("cannot start ", CORRAL_BINARY, ": ", strerror(rc)));
  }
  return absl::OkStatus();
}

absl::Status CorralProcess::StartWithConfig(
    const std::string& config, const std::map<std::string, std::string>& env) {
  std::ofstream(dir_ + "/corral.yaml") << config;
  if (absl::Status s = Start({"-c", dir_ + "/corral.yaml"}, env); !s.ok())
    return s;
  return WaitListening(absl::Seconds(20));
}

absl::Status CorralProcess::WaitListening(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::istringstream lines(Stderr());
    std::string line;
    while (std::getline(lines, line)) {
      if (line.find("msg=listening") != std::string::npos) {
        http_port_ = PortAfter(line, "http");
        grpc_port_ = PortAfter(line, "grpc");
        return absl::OkStatus();
      }
    }
    int status;
    if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      ExpectNoSanitizerReport(Stderr());
      return absl::FailedPreconditionError(
          absl::StrCat("corral exited before listening; stderr:\n", Stderr()));
    }
    absl::SleepFor(
        absl::Milliseconds(20));  // polling a log file: nothing to wait on
  }
  return absl::DeadlineExceededError(
      absl::StrCat("corral did not report listening; stderr:\n", Stderr()));
}

absl::StatusOr<int> CorralProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (pid_ > 0) {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      ExpectNoSanitizerReport(Stderr());
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return -WTERMSIG(status);
    }
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      ExpectNoSanitizerReport(Stderr());
      return absl::DeadlineExceededError("corral did not exit in time");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::FailedPreconditionError("corral is not running");
}

void CorralProcess::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

absl::StatusOr<int> CorralProcess::Stop(int signal, absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("corral is not running");
  kill(pid_, signal);
  return Wait(timeout);
}

std::string CorralProcess::HttpUrl(absl::string_view path) const {
  return absl::StrCat("http://127.0.0.1:", http_port_, path);
}

std::string CorralProcess::Stdout() const { return ReadAll(dir_ + "/stdout"); }
std::string CorralProcess::Stderr() const { return ReadAll(dir_ + "/stderr"); }

std::string CorralProcess::Metrics() const {
  core::HttpClient client(core::HttpClientTls{}, "corral-e2e");
  core::HttpRequest request;
  request.method = "GET";
  request.url = HttpUrl("/metrics");
  absl::StatusOr<core::HttpResponse> response = client.Send(request);
  return response.ok() ? response->body : "";
}

bool CorralProcess::WaitForMetric(absl::string_view line,
                                  absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (absl::StrContains(Metrics(), line)) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

std::optional<double> CorralProcess::MetricIn(absl::string_view metrics,
                                              absl::string_view series) {
  const std::string prefix = absl::StrCat(series, " ");
  std::istringstream lines{std::string(metrics)};
  std::string line;
  while (std::getline(lines, line)) {
    double value;
    if (absl::StartsWith(line, prefix) &&
        absl::SimpleAtod(absl::string_view(line).substr(prefix.size()),
                         &value)) {
      return value;
    }
  }
  return std::nullopt;
}

std::optional<double> CorralProcess::MetricValue(
    absl::string_view series) const {
  return MetricIn(Metrics(), series);
}

bool CorralProcess::WaitForMetricAtLeast(absl::string_view series,
                                         double at_least,
                                         absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (MetricValue(series).value_or(at_least - 1) >= at_least) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

absl::StatusOr<bool> CorralProcess::ReloadWithConfig(const std::string& config,
                                                     absl::Duration timeout) {
  constexpr absl::string_view kApplied =
      R"(corral_config_reloads_total{result="success"})";
  constexpr absl::string_view kRefused =
      R"(corral_config_reloads_total{result="failure"})";
  const std::string before = Metrics();
  if (before.empty()) return absl::UnavailableError("no /metrics from corral");
  const double applied = MetricIn(before, kApplied).value_or(0);
  const double refused = MetricIn(before, kRefused).value_or(0);
  std::ofstream(dir_ + "/corral.yaml") << config;
  Signal(SIGHUP);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    const std::string now = Metrics();
    if (MetricIn(now, kApplied).value_or(0) > applied) return true;
    if (MetricIn(now, kRefused).value_or(0) > refused) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("no reload outcome in /metrics");
}

std::vector<boost::json::object> CorralProcess::DeadLetters() const {
  std::vector<boost::json::object> out;
  absl::StatusOr<std::string> text =
      core::ReadFileToString(dir_ + "/data/dead-letter.jsonl");
  if (!text.ok()) return out;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    out.push_back(boost::json::parse(line).as_object());
  }
  return out;
}

std::vector<boost::json::object> CorralProcess::WaitForDeadLetters(
    absl::Duration timeout) const {
  std::vector<boost::json::object> dead;
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline && dead.empty()) {
    absl::SleepFor(absl::Milliseconds(50));
    dead = DeadLetters();
  }
  return dead;
}

}  // namespace corral::e2e
