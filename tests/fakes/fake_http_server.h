#ifndef CORRAL_TESTS_FAKES_FAKE_HTTP_SERVER_H_
#define CORRAL_TESTS_FAKES_FAKE_HTTP_SERVER_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/http_client.h"

namespace corral::fakes {

// A real HTTP/1.1 server on 127.0.0.1 that records every request and answers
// from a script: the fake behind webhook-like destinations (webhooks, Slack,
// Chronicle, ...). Keep-alive, chunked and Content-Length bodies, optional TLS
// and mutual TLS. Thread-safe.
struct RecordedRequest {
  std::string method;
  std::string target;         // path and query as sent
  core::HttpHeaders headers;  // names lower-cased, in arrival order
  std::string body;
  absl::Time received;
  std::string Header(absl::string_view name) const;  // first value, or ""
};

struct ScriptedResponse {
  int status = 200;
  core::HttpHeaders headers;
  std::string body = "ok";
  absl::Duration delay = absl::ZeroDuration();  // wait before answering
  bool close_connection = false;                // close after answering
  // Close the connection without answering (after `delay`), as a server
  // that went away mid-request; the request is still recorded.
  bool drop_connection = false;
};

struct FakeTlsOptions {
  std::string cert_file;  // empty: plain HTTP
  std::string key_file;
  std::string client_ca_file;  // set: require a client certificate signed by it
};

// Decodes %XX escapes, and '+' as a space when `plus_is_space` (forms); a
// malformed escape stays as it is.
std::string PercentDecode(absl::string_view s, bool plus_is_space);
// The decoded name=value pairs of a form body or a query string; of a name
// given twice, the last value.
std::map<std::string, std::string> ParseForm(absl::string_view s);

class FakeHttpServer {
 public:
  explicit FakeHttpServer(FakeTlsOptions tls = {});
  ~FakeHttpServer();  // Stop()s
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  // Listens on 127.0.0.1:`port` (0: an ephemeral port) and serves on background
  // threads.
  absl::Status Start(int port = 0);
  // Closes the listener and every connection; joins the threads. The port
  // stays reserved (bound, not listening: connections are refused) until
  // Start(port()) brings the server back on it, or the server is destroyed.
  void Stop();
  int port() const;
  // "http://127.0.0.1:PORT/path" ("https://" with TLS).
  std::string Url(absl::string_view path = "/") const;

  // The next requests get these responses in order; after them, the default
  // (200 "ok").
  void Script(std::vector<ScriptedResponse> responses);
  void SetDefault(ScriptedResponse response);
  // Answers computed per request (for fakes of protocols, e.g. a token
  // endpoint): used instead of the default when the script is empty. Called on
  // a server thread without the server's lock held, so it may call this
  // server's methods. An empty function restores the default.
  using Handler = std::function<ScriptedResponse(const RecordedRequest&)>;
  void SetHandler(Handler handler);

  std::vector<RecordedRequest> Requests() const;
  size_t RequestCount() const;
  // True once at least `n` requests have arrived; false if `timeout` passes
  // first.
  bool WaitForRequests(size_t n, absl::Duration timeout) const;
  void ClearRequests();
  // TCP connections accepted since construction (across restarts): shows
  // connection reuse.
  size_t ConnectionCount() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_FAKE_HTTP_SERVER_H_
