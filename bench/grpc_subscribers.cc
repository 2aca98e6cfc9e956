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
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
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

// One subscriber: a Subscribe call at a time, the next one (resuming) started
// when the last is cut off.
struct Stream {
  std::shared_ptr<grpc::Channel> channel;
  int index = 0;
  // The last seq received, 0 for none: used by one call at a time (the next
  // call starts from the last one's OnDone).
  uint64_t last = 0;
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> resumes{0};
  std::atomic<uint64_t> gaps{0};

  std::mutex mu;
  std::condition_variable ended_cv;
  bool stopping = false;                   // guarded by mu
  grpc::ClientContext* context = nullptr;  // of the running call; by mu
  bool ended = false;                      // no call runs or will; by mu
};

// One Subscribe call, read with gRPC's callback API: every message is taken
// on gRPC's threads as it completes, with no thread per stream woken for each.
// Deletes itself when done.
class SubscribeCall final : public grpc::ClientReadReactor<grpc::ByteBuffer> {
 public:
  // Starts a call for `s` (resuming after s->last when it is set), unless the
  // stream is stopping, in which case it ends.
  static void Start(Stream* s) {
    SubscribeCall* call;
    {
      // Checked before the call is made: a call made is owed a StartCall.
      std::lock_guard<std::mutex> lock(s->mu);
      if (s->stopping) {
        s->ended = true;
        s->ended_cv.notify_all();
        return;
      }
      call = new SubscribeCall(s);
      s->context = &call->context_;
    }
    call->StartRead(&call->message_);
    call->StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const uint64_t seq = AlertSeq(&message_);
    if (seq == 0 || (s_->last != 0 && seq != s_->last + 1)) {
      s_->gaps.fetch_add(1, std::memory_order_relaxed);
    }
    // A malformed message keeps the resume point where it was.
    if (seq != 0) s_->last = seq;
    s_->received.fetch_add(1, std::memory_order_relaxed);
    StartRead(&message_);
  }

  void OnDone(const grpc::Status& status) override {
    Stream* s = s_;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->context = nullptr;
    }
    delete this;
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      s->resumes.fetch_add(1, std::memory_order_relaxed);
      Start(s);
      return;
    }
    if (status.error_code() != grpc::StatusCode::CANCELLED) {
      std::cerr << "stream " << s->index << " ended: " << status.error_code()
                << " " << status.error_message() << "\n";
    }
    std::lock_guard<std::mutex> lock(s->mu);
    s->ended = true;
    s->ended_cv.notify_all();
  }

 private:
  explicit SubscribeCall(Stream* s) : s_(s) {
    if (s->last != 0) request_.set_after_seq(s->last);
    const grpc::internal::RpcMethod method(
        kSubscribeMethod, grpc::internal::RpcMethod::SERVER_STREAMING,
        s->channel);
    grpc::internal::ClientCallbackReaderFactory<grpc::ByteBuffer>::Create(
        s->channel.get(), method, &context_, &request_, this);
  }

  Stream* const s_;
  grpc::ClientContext context_;
  corral::v1::SubscribeRequest request_;
  grpc::ByteBuffer message_;
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
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < count; ++i) {
    auto stream = std::make_unique<Stream>();
    stream->channel = channel;
    stream->index = i;
    SubscribeCall::Start(stream.get());
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
  for (const auto& s : streams) {
    std::unique_lock<std::mutex> lock(s->mu);
    if (!s->ended_cv.wait_for(lock, std::chrono::seconds(10),
                              [&] { return s->ended; })) {
      std::cerr << "stream " << s->index << " did not end\n";
      // Calls still running use the streams: leave without destroying them.
      std::_Exit(1);
    }
  }
  return 0;
}
