// Opens N corral.v1.Alerts/Subscribe streams and checks what each receives,
// for bench/grpc_fanout.sh. Each stream behaves as the API asks of a client:
// when corral cuts it off as too slow (RESOURCE_EXHAUSTED) it resubscribes
// with after_seq = the last seq it got, and so misses nothing.
//
// Usage: corral_grpc_subscribers TARGET STREAMS
// Then, for each line "N" read on stdin: waits (at most 60 s) until every
// stream has received N alerts and prints one line
//   "streams=S expected=N min=M max=X resumes=R gaps=G ok=true|false"
// where a gap is an alert whose seq is not the one after the last (every
// alert is posted without filters, so a stream sees every seq: a gap is a
// lost or repeated alert). Exits when stdin closes. A stream that ends other
// than by being cut off or cancelled is reported on stderr and not resumed.
//
// Each message is checked for its seq and its framing, not parsed into an
// Alert: parsing ten streams' worth of Alerts (a map of Values each) costs
// more CPU than corral spends sending them, and this process shares corral's
// cores, so the measure would be of the client.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "corral/v1/alerts.grpc.pb.h"

namespace {

constexpr char kSubscribeMethod[] = "/corral.v1.Alerts/Subscribe";

// The seq (field 1) of a serialized corral.v1.Alert, walking every field so
// that a torn message is caught; 0 when the message is malformed or has none.
uint64_t AlertSeq(grpc::ByteBuffer* message) {
  grpc::ProtoBufferReader bytes(message);
  google::protobuf::io::CodedInputStream in(&bytes);
  uint64_t seq = 0;
  while (const uint32_t tag = in.ReadTag()) {
    if (tag == ((1 << 3) | 0)) {  // field 1, varint
      if (!in.ReadVarint64(&seq)) return 0;
    } else if (!google::protobuf::internal::WireFormatLite::SkipField(&in,
                                                                      tag)) {
      return 0;
    }
  }
  return in.ConsumedEntireMessage() ? seq : 0;
}

struct Stream {
  std::mutex mu;  // guards context against TryCancel while it is replaced
  std::unique_ptr<grpc::ClientContext> context;
  bool stopping = false;
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> resumes{0};
  std::atomic<uint64_t> gaps{0};
  std::thread reader;
};

// Reads one stream until it is cancelled or fails, resuming after each
// RESOURCE_EXHAUSTED.
void ReadStream(const std::shared_ptr<grpc::Channel>& channel, Stream* s,
                int index) {
  const grpc::internal::RpcMethod method(
      kSubscribeMethod, grpc::internal::RpcMethod::SERVER_STREAMING, channel);
  uint64_t last = 0;  // 0: nothing received yet
  while (true) {
    corral::v1::SubscribeRequest request;
    if (last != 0) request.set_after_seq(last);
    grpc::ClientContext* context;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      if (s->stopping) return;
      s->context = std::make_unique<grpc::ClientContext>();
      context = s->context.get();
    }
    std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
        grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
            channel.get(), method, context, request));
    grpc::ByteBuffer message;
    while (reader->Read(&message)) {
      const uint64_t seq = AlertSeq(&message);
      if (seq == 0 || (last != 0 && seq != last + 1)) {
        s->gaps.fetch_add(1, std::memory_order_relaxed);
      }
      last = seq;
      s->received.fetch_add(1, std::memory_order_relaxed);
    }
    const grpc::Status status = reader->Finish();
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      s->resumes.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (status.error_code() != grpc::StatusCode::CANCELLED) {
      std::cerr << "stream " << index << " ended: " << status.error_code()
                << " " << status.error_message() << "\n";
    }
    return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: corral_grpc_subscribers TARGET STREAMS\n";
    return 2;
  }
  const int count = std::stoi(argv[2]);
  auto channel =
      grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials());
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < count; ++i) {
    auto stream = std::make_unique<Stream>();
    Stream* s = stream.get();
    s->reader = std::thread([s, &channel, i] { ReadStream(channel, s, i); });
    streams.push_back(std::move(stream));
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    const uint64_t expected = std::stoull(line);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    uint64_t min = 0, max = 0, resumes = 0, gaps = 0;
    while (true) {
      min = UINT64_MAX;
      max = resumes = gaps = 0;
      for (const auto& s : streams) {
        const uint64_t n = s->received.load(std::memory_order_relaxed);
        min = std::min(min, n);
        max = std::max(max, n);
        resumes += s->resumes.load(std::memory_order_relaxed);
        gaps += s->gaps.load(std::memory_order_relaxed);
      }
      if (min >= expected || absl::Now() > deadline) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    const bool ok = min == expected && max == expected && gaps == 0;
    std::printf(
        "streams=%d expected=%lu min=%lu max=%lu resumes=%lu gaps=%lu "
        "ok=%s\n",
        count, static_cast<unsigned long>(expected),
        static_cast<unsigned long>(min), static_cast<unsigned long>(max),
        static_cast<unsigned long>(resumes), static_cast<unsigned long>(gaps),
        ok ? "true" : "false");
    std::fflush(stdout);
  }
  for (const auto& s : streams) {
    std::lock_guard<std::mutex> lock(s->mu);
    s->stopping = true;
    if (s->context != nullptr) s->context->TryCancel();
  }
  for (const auto& s : streams) s->reader.join();
  return 0;
}
