// End to end, POST to delivery: sends distinct Falco alerts to corral's
// `POST /` and receives what corral's webhook outputs deliver on a sink in the
// same process, which stamps each arrival. For bench/delivery.sh.
//
//   corral_delivery_bench --target HOST:PORT --sink-port PORT --outputs N
//       --duration SECONDS [--rate PER_S] [--connections C]
//       [--alert-bytes BYTES] [--drain-timeout SECONDS]
//
// Sending: C keep-alive connections (a thread each). With --rate R > 0 the
// load is open loop: alert i is due at start + i / R, whichever connection is
// free sends it, and its latency counts from the due time, so a sender held up
// by a slow answer does not hide the wait (wrk2's rule). With --rate 0 every
// connection sends as fast as corral answers (saturation) for the duration.
// Every alert is distinct: its output_fields carry "bench.id" (0, 1, ...) and
// "bench.sent_ns" (the due or send time, this process's steady clock), and it
// is padded (in `output`) to about --alert-bytes.
//
// Receiving: corral is configured with N webhook outputs whose urls are
// http://127.0.0.1:PORT/o/0 ... /o/N-1 (format json or ndjson_batch). After
// sending, the tool waits (at most --drain-timeout) until every output has
// every alert corral accepted (HTTP 200), and prints one line:
//   sent= accepted= refused= send_per_s= outputs= delivered_min= delivered_max=
//   missing= duplicates= delivered_per_s= deliveries_per_s= p50_ms= p99_ms=
//   max_ms= ack_p50_ms= ack_p99_ms= sender_lag_max_ms= ok=true|false
// delivered_per_s: accepted alerts over the time from the first send to the
// last arrival (at any output); deliveries_per_s counts each output's copy.
// Latencies are over every (alert, output) arrival; ack_* is POST to 200.
// Exit status: 0 when every accepted alert reached every output, 1 when not
// or when sending failed, 2 on bad arguments.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "server/http_server.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SleepUntilNs(int64_t ns) {
  std::this_thread::sleep_until(
      std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns)));
}

struct Options {
  std::string target_host;
  std::string target_port;
  int sink_port = 0;
  int outputs = 1;
  double duration_s = 5;
  double rate = 0;  // 0: saturation
  int connections = 8;
  size_t alert_bytes = 1024;
  double drain_timeout_s = 60;
};

// --key value pairs; false (with a message) on anything else.
bool ParseOptions(int argc, char** argv, Options* o) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc || !absl::StartsWith(argv[i], "--")) {
      std::cerr << "expected --key value, got " << argv[i] << "\n";
      return false;
    }
    args[argv[i] + 2] = argv[i + 1];
  }
  auto take = [&](const std::string& key) -> std::string {
    auto it = args.find(key);
    if (it == args.end()) return "";
    std::string v = it->second;
    args.erase(it);
    return v;
  };
  bool ok = true;
  auto number = [&](const std::string& key, auto* out) {
    std::string v = take(key);
    if (v.empty()) return;
    double d;
    if (!absl::SimpleAtod(v, &d) || d < 0) {
      std::cerr << "--" << key << ": expected a number >= 0, got " << v << "\n";
      ok = false;
      return;
    }
    *out = static_cast<std::remove_pointer_t<decltype(out)>>(d);
  };
  std::string target = take("target");
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "--target: expected HOST:PORT, got '" << target << "'\n";
    ok = false;
  } else {
    o->target_host = target.substr(0, colon);
    o->target_port = target.substr(colon + 1);
  }
  number("sink-port", &o->sink_port);
  number("outputs", &o->outputs);
  number("duration", &o->duration_s);
  number("rate", &o->rate);
  number("connections", &o->connections);
  number("alert-bytes", &o->alert_bytes);
  number("drain-timeout", &o->drain_timeout_s);
  for (const auto& [key, value] : args) {
    std::cerr << "unknown option --" << key << "\n";
    ok = false;
  }
  if (o->sink_port <= 0 || o->outputs < 1 || o->connections < 1 ||
      o->duration_s <= 0) {
    std::cerr << "--sink-port, --outputs, --connections and --duration must "
                 "be set and positive\n";
    ok = false;
  }
  return ok;
}

// The alert JSON around its two varying fields, padded to about `bytes`.
class AlertTemplate {
 public:
  explicit AlertTemplate(size_t bytes) {
    const std::string output =
        "18:50:59.430325374: Warning Sensitive file opened for reading by "
        "non-trusted program (file=/etc/shadow evt_type=openat user=root "
        "process=cat command=cat /etc/shadow container_id=452d47e1f06c)";
    suffix_ =
        R"(,"container.id":"452d47e1f06c","container.name":"hopeful_morse",)"
        R"("evt.type":"openat","fd.name":"/etc/shadow","k8s.ns.name":null,)"
        R"("proc.cmdline":"cat /etc/shadow","proc.exepath":"/usr/bin/cat",)"
        R"("proc.name":"cat","proc.pname":"bash","user.name":"root",)"
        R"("user.uid":0},"priority":"Warning",)"
        R"("rule":"Read sensitive file untrusted","source":"syscall",)"
        R"("tags":["T1555","container","filesystem","host",)"
        R"("mitre_credential_access"],"time":"2026-07-05T18:50:59.430325374Z"})";
    const std::string head = R"({"hostname":"bench-host","output":")";
    const std::string fields = R"(","output_fields":{"bench.id":)";
    const size_t numbers = 40;  // id, ",\"bench.sent_ns\":" and the time
    const size_t fixed =
        head.size() + output.size() + fields.size() + numbers + suffix_.size();
    std::string padding;
    if (bytes > fixed) padding = " " + std::string(bytes - fixed - 1, 'x');
    prefix_ = absl::StrCat(head, output, padding, fields);
  }
  std::string Body(uint64_t id, int64_t sent_ns) const {
    return absl::StrCat(prefix_, id, R"(,"bench.sent_ns":)", sent_ns, suffix_);
  }

 private:
  std::string prefix_, suffix_;
};

// One keep-alive connection to corral, used by one thread.
class Connection {
 public:
  bool Connect(const Options& o) {
    beast::error_code ec;
    asio::ip::tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(o.target_host, o.target_port, ec);
    if (!ec) stream_.connect(endpoints, ec);
    if (ec) error_ = ec.message();
    host_ = o.target_host;
    return !ec;
  }
  // The HTTP status, or 0 when the exchange failed (error()).
  int Post(std::string body) {
    http::request<http::string_body> req(http::verb::post, "/", 11);
    req.set(http::field::host, host_);
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    beast::error_code ec;
    http::write(stream_, req, ec);
    http::response<http::string_body> res;
    if (!ec) http::read(stream_, buffer_, res, ec);
    if (ec) {
      error_ = ec.message();
      return 0;
    }
    return res.result_int();
  }
  const std::string& error() const { return error_; }

 private:
  asio::io_context io_;
  beast::tcp_stream stream_{io_};
  beast::flat_buffer buffer_;
  std::string host_;
  std::string error_;
};

// What one output received: the ids and each arrival's latency.
struct OutputRecord {
  std::mutex mu;
  std::vector<uint64_t> ids;
  std::vector<int64_t> latencies_ns;
  int64_t last_arrival_ns = 0;
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> unreadable{0};  // alerts without the bench fields
};

// The number after `"key":` in `line`, if there is one.
bool FieldAfter(absl::string_view line, absl::string_view key, int64_t* out) {
  const size_t at = line.find(key);
  if (at == absl::string_view::npos) return false;
  const char* begin = line.data() + at + key.size();
  return std::from_chars(begin, line.data() + line.size(), *out).ec ==
         std::errc();
}

// Records every alert of a webhook body (one alert, or ndjson lines).
void RecordBody(absl::string_view body, int64_t arrival_ns, OutputRecord* r) {
  std::vector<std::pair<uint64_t, int64_t>> got;
  uint64_t unreadable = 0;
  while (!body.empty()) {
    const size_t nl = body.find('\n');
    const absl::string_view line = body.substr(0, nl);
    body = nl == absl::string_view::npos ? "" : body.substr(nl + 1);
    if (line.empty()) continue;
    int64_t id, sent_ns;
    if (FieldAfter(line, R"("bench.id":)", &id) &&
        FieldAfter(line, R"("bench.sent_ns":)", &sent_ns)) {
      got.emplace_back(id, arrival_ns - sent_ns);
    } else {
      ++unreadable;
    }
  }
  std::lock_guard<std::mutex> lock(r->mu);
  for (const auto& [id, latency] : got) {
    r->ids.push_back(id);
    r->latencies_ns.push_back(latency);
  }
  r->last_arrival_ns = std::max(r->last_arrival_ns, arrival_ns);
  r->count.fetch_add(got.size());
  r->unreadable.fetch_add(unreadable);
}

double Percentile(std::vector<int64_t>* v, double q) {
  if (v->empty()) return 0;
  const size_t k = std::min(v->size() - 1, static_cast<size_t>(q * v->size()));
  std::nth_element(v->begin(), v->begin() + k, v->end());
  return (*v)[k] / 1e6;
}

// Shared by the sending threads.
struct SendState {
  std::atomic<uint64_t> next_id{0};
  std::atomic<uint64_t> sent{0};
  std::atomic<int64_t> max_lag_ns{0};
  std::mutex mu;
  std::vector<uint64_t> refused_ids;  // answered 503: not expected at the sink
  std::vector<int64_t> ack_ns;
  std::string failure;  // first transport error or unexpected status
};

void SendLoop(const Options& o, const AlertTemplate& alert, int64_t start_ns,
              SendState* state) {
  Connection conn;
  std::vector<uint64_t> refused;
  std::vector<int64_t> acks;
  std::string failure;
  const int64_t end_ns = start_ns + static_cast<int64_t>(o.duration_s * 1e9);
  const uint64_t total =
      o.rate > 0 ? static_cast<uint64_t>(o.rate * o.duration_s) : UINT64_MAX;
  if (!conn.Connect(o)) failure = "connect: " + conn.error();
  SleepUntilNs(start_ns);
  while (failure.empty()) {
    int64_t sent_ns;
    uint64_t id;
    if (o.rate > 0) {
      id = state->next_id.fetch_add(1);
      if (id >= total) break;
      sent_ns = start_ns + static_cast<int64_t>(id * 1e9 / o.rate);
      SleepUntilNs(sent_ns);
      const int64_t lag = NowNs() - sent_ns;
      int64_t seen = state->max_lag_ns.load();
      while (lag > seen &&
             !state->max_lag_ns.compare_exchange_weak(seen, lag)) {
      }
    } else {
      sent_ns = NowNs();
      if (sent_ns >= end_ns) break;
      id = state->next_id.fetch_add(1);
    }
    const int64_t post_ns = NowNs();
    const int status = conn.Post(alert.Body(id, sent_ns));
    acks.push_back(NowNs() - post_ns);
    state->sent.fetch_add(1);
    if (status == 503) {
      refused.push_back(id);
    } else if (status == 0) {
      failure = absl::StrCat("POST alert ", id, ": ", conn.error());
    } else if (status != 200) {
      failure = absl::StrCat("POST alert ", id, ": HTTP ", status);
    }
  }
  std::lock_guard<std::mutex> lock(state->mu);
  state->refused_ids.insert(state->refused_ids.end(), refused.begin(),
                            refused.end());
  state->ack_ns.insert(state->ack_ns.end(), acks.begin(), acks.end());
  if (state->failure.empty()) state->failure = failure;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseOptions(argc, argv, &o)) {
    std::cerr << "usage: corral_delivery_bench --target HOST:PORT --sink-port "
                 "PORT --outputs N --duration S [--rate R] [--connections C] "
                 "[--alert-bytes B] [--drain-timeout S]\n";
    return 2;
  }

  std::vector<std::unique_ptr<OutputRecord>> records;
  for (int i = 0; i < o.outputs; ++i) {
    records.push_back(std::make_unique<OutputRecord>());
  }
  corral::server::HttpServerOptions sink_options;
  sink_options.address = absl::StrCat("127.0.0.1:", o.sink_port);
  sink_options.max_body_bytes = 256 << 20;
  sink_options.io_threads = 1;
  corral::server::HttpServer sink(
      sink_options, [&](corral::server::HttpServerRequest request,
                        corral::server::HttpReply reply) {
        const int64_t arrival_ns = NowNs();
        corral::server::HttpServerResponse response;
        absl::string_view path = request.target;
        int index = -1;
        if (!absl::ConsumePrefix(&path, "/o/") ||
            !absl::SimpleAtoi(path, &index) || index < 0 ||
            index >= o.outputs) {
          response.status = 404;
        } else {
          RecordBody(request.body, arrival_ns, records[index].get());
        }
        std::move(reply)(std::move(response));
      });
  if (absl::Status s = sink.Start(); !s.ok()) {
    std::cerr << "sink: " << s << "\n";
    return 1;
  }

  const AlertTemplate alert(o.alert_bytes);
  SendState state;
  const int64_t start_ns = NowNs() + 10'000'000;  // every thread ready
  std::vector<std::thread> senders;
  for (int i = 0; i < o.connections; ++i) {
    senders.emplace_back(SendLoop, std::cref(o), std::cref(alert), start_ns,
                         &state);
  }
  for (std::thread& t : senders) t.join();
  const int64_t send_end_ns = NowNs();

  const uint64_t sent = state.sent.load();
  const uint64_t accepted = sent - state.refused_ids.size();
  const int64_t drain_deadline_ns =
      send_end_ns + static_cast<int64_t>(o.drain_timeout_s * 1e9);
  auto all_arrived = [&] {
    for (const auto& r : records) {
      if (r->count.load() < accepted) return false;
    }
    return true;
  };
  while (!all_arrived() && NowNs() < drain_deadline_ns) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  sink.Stop();

  // Per output: each accepted id exactly once (duplicates are allowed by
  // at-least-once delivery, and counted).
  std::vector<uint8_t> expected(sent, 1);
  for (uint64_t id : state.refused_ids) expected[id] = 0;
  uint64_t missing = 0, duplicates = 0, unexpected = 0, unreadable = 0;
  uint64_t delivered_min = UINT64_MAX, delivered_max = 0, deliveries = 0;
  int64_t last_arrival_ns = start_ns;
  std::vector<int64_t> latencies;
  for (const auto& r : records) {
    std::lock_guard<std::mutex> lock(r->mu);
    std::vector<uint8_t> seen(sent, 0);
    for (uint64_t id : r->ids) {
      if (id >= sent || !expected[id]) {
        ++unexpected;
      } else if (seen[id]) {
        ++duplicates;
      } else {
        seen[id] = 1;
      }
    }
    uint64_t distinct = 0;
    for (uint8_t s : seen) distinct += s;
    missing += accepted - distinct;
    delivered_min = std::min(delivered_min, distinct);
    delivered_max = std::max(delivered_max, distinct);
    deliveries += r->ids.size();
    unreadable += r->unreadable.load();
    last_arrival_ns = std::max(last_arrival_ns, r->last_arrival_ns);
    latencies.insert(latencies.end(), r->latencies_ns.begin(),
                     r->latencies_ns.end());
  }
  const double send_s = (send_end_ns - start_ns) / 1e9;
  const double deliver_s = (last_arrival_ns - start_ns) / 1e9;
  const bool ok = state.failure.empty() && missing == 0 && unexpected == 0 &&
                  unreadable == 0 && accepted > 0;
  std::printf(
      "sent=%lu accepted=%lu refused=%zu send_per_s=%.0f outputs=%d "
      "delivered_min=%lu delivered_max=%lu missing=%lu duplicates=%lu "
      "delivered_per_s=%.0f deliveries_per_s=%.0f p50_ms=%.2f p99_ms=%.2f "
      "max_ms=%.2f ack_p50_ms=%.2f ack_p99_ms=%.2f sender_lag_max_ms=%.2f "
      "ok=%s\n",
      static_cast<unsigned long>(sent), static_cast<unsigned long>(accepted),
      state.refused_ids.size(), sent / send_s, o.outputs,
      static_cast<unsigned long>(delivered_min),
      static_cast<unsigned long>(delivered_max),
      static_cast<unsigned long>(missing),
      static_cast<unsigned long>(duplicates),
      deliver_s > 0 ? accepted / deliver_s : 0,
      deliver_s > 0 ? deliveries / deliver_s : 0, Percentile(&latencies, 0.50),
      Percentile(&latencies, 0.99), Percentile(&latencies, 1.0),
      Percentile(&state.ack_ns, 0.50), Percentile(&state.ack_ns, 0.99),
      state.max_lag_ns.load() / 1e6, ok ? "true" : "false");
  if (!state.failure.empty()) std::cerr << state.failure << "\n";
  if (unexpected > 0 || unreadable > 0) {
    std::cerr << unexpected << " arrivals of alerts not accepted or not sent, "
              << unreadable << " alerts without the bench fields\n";
  }
  return ok ? 0 : 1;
}
