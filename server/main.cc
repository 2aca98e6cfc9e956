// corral: receives Falco alerts and delivers them to every configured
// destination.
//
//   corral [-c FILE | --config FILE]   run the service (no -c: the default)
//   corral check-config -c FILE        validate, print the effective config
//   corral rules test --rules FILE... --input FILE|- [--all]
//   corral rules validate FILE...
//   corral version
#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "core/config.h"
#include "core/log.h"
#include "core/openssl_exit.h"
#include "ingest/rules/rules_cli.h"
#include "outputs/registry.h"
#include "server/app.h"

namespace {

using corral::core::Config;

constexpr char kUsage[] =
    "usage:\n"
    "  corral [-c FILE | --config FILE]     run the service (no -c: the "
    "embedded default)\n"
    "  corral check-config -c FILE          validate FILE and print the "
    "effective config\n"
    "  corral rules test --rules FILE... --input FILE|- [--all]\n"
    "                                       evaluate rules on LogEntry JSON "
    "lines\n"
    "  corral rules validate FILE...        check rules files\n"
    "  corral version                       print the version\n";

struct Args {
  std::string command;  // "", "check-config", "version"
  std::optional<std::string> config_file;
};

std::optional<Args> ParseArgs(int argc, char** argv, std::string* error) {
  Args args;
  std::vector<std::string> rest(argv + 1, argv + argc);
  for (size_t i = 0; i < rest.size(); ++i) {
    const std::string& arg = rest[i];
    if (arg == "-c" || arg == "--config") {
      if (i + 1 >= rest.size()) {
        *error = absl::StrCat(arg, " needs a file name");
        return std::nullopt;
      }
      args.config_file = rest[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      args.config_file = arg.substr(strlen("--config="));
    } else if (arg == "-h" || arg == "--help" || arg == "help") {
      args.command = "help";
    } else if (args.command.empty() &&
               (arg == "check-config" || arg == "version")) {
      args.command = arg;
    } else {
      *error = absl::StrCat("unknown argument \"", arg, "\"");
      return std::nullopt;
    }
  }
  return args;
}

absl::StatusOr<Config> LoadConfig(const Args& args) {
  if (args.config_file) return corral::core::LoadConfigFile(*args.config_file);
  return corral::core::LoadDefaultConfig();
}

int CheckConfig(const Args& args, const corral::outputs::Registry& registry) {
  if (!args.config_file) {
    std::cerr << "check-config needs -c FILE\n" << kUsage;
    return 2;
  }
  absl::StatusOr<Config> config = LoadConfig(args);
  if (!config.ok()) {
    std::cout << "invalid configuration:\n"
              << config.status().message() << "\n";
    return 1;
  }
  std::vector<std::string> errors;
  absl::Status outputs =
      corral::server::BuildOutputs(*config, registry, {}).status();
  if (!outputs.ok()) errors.emplace_back(outputs.message());
  corral::core::MetricsRegistry unused_metrics;
  absl::Status gcpaudit = corral::server::BuildGcpAuditIngests(
                              *config, nullptr, nullptr, &unused_metrics)
                              .status();
  if (!gcpaudit.ok()) errors.emplace_back(gcpaudit.message());
  absl::Status falco_grpc = corral::server::BuildFalcoGrpcIngests(
                                *config, nullptr, nullptr, &unused_metrics)
                                .status();
  if (!falco_grpc.ok()) errors.emplace_back(falco_grpc.message());
  if (!errors.empty()) {
    std::cout << "invalid configuration:\n"
              << absl::StrJoin(errors, "\n") << "\n";
    return 1;
  }
  std::cout << corral::core::RenderEffectiveConfig(*config);
  std::cout << "# configuration is valid\n";
  return 0;
}

// glibc's default malloc gives buffers over 128 KiB back to the kernel when
// they are freed and trims a heap's top once 128 KiB there are free, raising
// those limits only as it goes. gRPC receives a StreamingPull response of
// megabytes into large buffers and frees them once parsed, so the gcpaudit
// ingest kept mapping fresh memory: the page faults of copying received
// bytes into it were a tenth of corral's CPU there. Freed memory up to 64 MiB
// stays in the heap (buffers up to 4 MiB come from it); over 100,000 audit
// entries that cut page faults fourfold and CPU per entry by a quarter, for
// about 20 MB more peak RSS. The operator's GLIBC_TUNABLES or MALLOC_*_
// settings win.
void TuneMalloc() {
#ifdef __GLIBC__
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if ((tunables != nullptr &&
       std::strstr(tunables, "glibc.malloc.") != nullptr) ||
      std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr ||
      std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) {
    return;
  }
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

int Run(const Args& args, const corral::outputs::Registry& registry) {
  TuneMalloc();
  // Signals are taken synchronously by the main thread; every thread started
  // later inherits the mask and never sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<Config> config = LoadConfig(args);
  if (!config.ok()) {
    corral::core::LogError("invalid configuration",
                           {{"errors", config.status().message()}});
    return 1;
  }
  absl::StatusOr<std::unique_ptr<corral::server::App>> app =
      corral::server::App::Create(*std::move(config), registry);
  if (!app.ok()) {
    corral::core::LogError("invalid configuration",
                           {{"errors", app.status().message()}});
    return 1;
  }
  if (absl::Status started = (*app)->Start(); !started.ok()) {
    corral::core::LogError("cannot start", {{"error", started.message()}});
    return 1;
  }
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      (*app)->Reload(LoadConfig(args)).IgnoreError();  // logged and counted
      continue;
    }
    corral::core::LogInfo("signal received", {{"signal", strsignal(sig)}});
    break;
  }
  (*app)->Shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  corral::core::KeepOpenSslStateAtExit();
  // Debian builds abseil with its debug deadlock detector on: every Mutex
  // lock then updates a global lock graph. Lock order is a property of the
  // code, checked by the tests (where the detector stays on), not something
  // to pay for on every lock in production.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // `rules` takes its own arguments.
  if (argc >= 2 && std::string(argv[1]) == "rules") {
    return corral::ingest::rules::RunRulesCli(
        std::vector<std::string>(argv + 2, argv + argc), std::cin, std::cout,
        std::cerr);
  }
  std::string error;
  std::optional<Args> args = ParseArgs(argc, argv, &error);
  if (!args) {
    std::cerr << "corral: " << error << "\n" << kUsage;
    return 2;
  }
  if (args->command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (args->command == "version") {
    std::cout << "corral " << CORRAL_VERSION << "\n";
    return 0;
  }
  corral::outputs::Registry registry;
  corral::outputs::RegisterBuiltinOutputs(registry);
  if (args->command == "check-config") return CheckConfig(*args, registry);
  return Run(*args, registry);
}
