// fake_pubsub: the Pub/Sub fake as a standalone plaintext server, for
// benchmarks and manual runs (point a client at it with
// PUBSUB_EMULATOR_HOST=127.0.0.1:PORT).
//
//   fake_pubsub [--port N] [--project P] --topic T [--subscription S]...
//               [--ack-deadline SECONDS] [--publish FILE [--repeat N]]
//
// Topic and subscription names may be full ("projects/p/topics/t") or short
// (then under --project, "corral-bench" by default). --publish publishes every
// non-empty line of FILE as one message, --repeat times over, after the
// subscriptions exist. Prints "listening 127.0.0.1:PORT" once serving and runs
// until SIGTERM or SIGINT, then prints what the subscriptions acked to stderr.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "tests/fakes/fake_pubsub.h"

namespace {

int Usage(absl::string_view problem) {
  std::fprintf(stderr,
               "fake_pubsub: %.*s\nusage: fake_pubsub [--port N] [--project P] "
               "--topic T [--subscription S]... [--ack-deadline SECONDS] "
               "[--publish FILE [--repeat N]]\n",
               static_cast<int>(problem.size()), problem.data());
  return 2;
}

std::string FullName(absl::string_view project, absl::string_view kind,
                     absl::string_view name) {
  if (absl::StartsWith(name, "projects/")) return std::string(name);
  return absl::StrCat("projects/", project, "/", kind, "/", name);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int ack_deadline = 10;
  int repeat = 1;
  std::string project = "corral-bench";
  std::string topic;
  std::vector<std::string> subscriptions;
  std::string publish_file;
  for (int i = 1; i < argc; ++i) {
    absl::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") return Usage("help");
    if (i + 1 >= argc) return Usage(absl::StrCat(flag, " needs a value"));
    absl::string_view value = argv[++i];
    bool ok = true;
    if (flag == "--port") {
      ok = absl::SimpleAtoi(value, &port) && port >= 0 && port < 65536;
    } else if (flag == "--ack-deadline") {
      ok = absl::SimpleAtoi(value, &ack_deadline);
    } else if (flag == "--repeat") {
      ok = absl::SimpleAtoi(value, &repeat) && repeat >= 0;
    } else if (flag == "--project") {
      project = std::string(value);
    } else if (flag == "--topic") {
      topic = std::string(value);
    } else if (flag == "--subscription") {
      subscriptions.emplace_back(value);
    } else if (flag == "--publish") {
      publish_file = std::string(value);
    } else {
      return Usage(absl::StrCat("unknown flag ", flag));
    }
    if (!ok) return Usage(absl::StrCat("bad value for ", flag, ": ", value));
  }
  if (topic.empty()) return Usage("--topic is required");
  topic = FullName(project, "topics", topic);
  for (std::string& s : subscriptions) {
    s = FullName(project, "subscriptions", s);
  }

  // Block the signals before any thread starts, so that only sigwait() below
  // sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  corral::fakes::FakePubSub fake;
  absl::Status status = fake.CreateTopic(topic);
  for (const std::string& s : subscriptions) {
    if (status.ok()) status = fake.CreateSubscription(s, topic, ack_deadline);
  }
  if (!status.ok()) {
    std::fprintf(stderr, "fake_pubsub: %s\n", status.ToString().c_str());
    return 1;
  }

  if (!publish_file.empty()) {
    std::ifstream in(publish_file);
    if (!in) {
      std::fprintf(stderr, "fake_pubsub: cannot read %s\n",
                   publish_file.c_str());
      return 1;
    }
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) lines.push_back(std::move(line));
    }
    size_t published = 0;
    for (int r = 0; r < repeat; ++r) {
      for (const std::string& line : lines) {
        fake.Publish(topic, line);
        ++published;
      }
    }
    std::fprintf(stderr, "fake_pubsub: published %zu messages to %s\n",
                 published, topic.c_str());
  }

  status = fake.Start(port);
  if (!status.ok()) {
    std::fprintf(stderr, "fake_pubsub: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("listening %s\n", fake.address().c_str());
  std::fflush(stdout);

  int signal = 0;
  sigwait(&signals, &signal);
  fake.Stop();
  for (const std::string& s : subscriptions) {
    std::fprintf(stderr, "fake_pubsub: %s: %zu acked, %zu pending\n", s.c_str(),
                 fake.Acked(s).size(), fake.Pending(s).size());
  }
  return 0;
}
