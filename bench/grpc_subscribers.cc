// Opens N corral.v1.Alerts/Subscribe streams and counts what each receives,
// for bench/grpc_fanout.sh.
//
// Usage: corral_grpc_subscribers TARGET STREAMS
// Then, for each line "N" read on stdin: waits (at most 60 s) until every
// stream has received N alerts and prints one line
//   "streams=S expected=N min=M max=X ok=true|false"
// Exits when stdin closes. A stream that ends early is reported on stderr.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "corral/v1/alerts.grpc.pb.h"

namespace {

struct Stream {
  grpc::ClientContext context;
  std::atomic<uint64_t> received{0};
  std::thread reader;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: corral_grpc_subscribers TARGET STREAMS\n";
    return 2;
  }
  const int count = std::stoi(argv[2]);
  auto channel =
      grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials());
  auto stub = corral::v1::Alerts::NewStub(channel);
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < count; ++i) {
    auto stream = std::make_unique<Stream>();
    Stream* s = stream.get();
    s->reader = std::thread([s, &stub, i] {
      auto reader = stub->Subscribe(&s->context, corral::v1::SubscribeRequest());
      corral::v1::Alert alert;
      while (reader->Read(&alert)) {
        s->received.fetch_add(1, std::memory_order_relaxed);
      }
      grpc::Status status = reader->Finish();
      if (status.error_code() != grpc::StatusCode::CANCELLED) {
        std::cerr << "stream " << i << " ended: " << status.error_code() << " "
                  << status.error_message() << "\n";
      }
    });
    streams.push_back(std::move(stream));
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    const uint64_t expected = std::stoull(line);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    uint64_t min = 0, max = 0;
    while (true) {
      min = UINT64_MAX;
      max = 0;
      for (const auto& s : streams) {
        const uint64_t n = s->received.load(std::memory_order_relaxed);
        min = std::min(min, n);
        max = std::max(max, n);
      }
      if (min >= expected || absl::Now() > deadline) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    std::printf("streams=%d expected=%lu min=%lu max=%lu ok=%s\n", count,
                static_cast<unsigned long>(expected),
                static_cast<unsigned long>(min),
                static_cast<unsigned long>(max),
                min == expected && max == expected ? "true" : "false");
    std::fflush(stdout);
  }
  for (const auto& s : streams) s->context.TryCancel();
  for (const auto& s : streams) s->reader.join();
  return 0;
}
