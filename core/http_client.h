#ifndef CORRAL_CORE_HTTP_CLIENT_H_
#define CORRAL_CORE_HTTP_CLIENT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace corral::core {

// corral's one HTTP client (libcurl). Every output and every Google/AWS call
// goes through it.

struct HttpClientTls {
  std::string ca_file;    // trust these CAs instead of the system's
  std::string cert_file;  // client certificate (mutual TLS), PEM
  std::string key_file;   // its private key, PEM
  bool insecure_skip_verify = false;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// The first value of header `name` (compared without case), or "".
std::string FindHeader(const HttpHeaders& headers, absl::string_view name);

// Percent-encodes every byte except RFC 3986's unreserved characters
// (A-Z a-z 0-9 - . _ ~) as %XX with upper-case hex, and '/' too unless
// `keep_slash`. keep_slash=false makes a query value or a path segment; true
// makes a whole path (AWS Signature V4's canonical URI for S3).
std::string PercentEncode(absl::string_view s, bool keep_slash = false);

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  HttpHeaders headers;
  std::string body;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration timeout = absl::Seconds(30);  // the whole exchange
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;  // names lower-cased
  std::string body;     // at most the first 64 KiB are kept
  // First value of a header (name in any case), or empty.
  std::string Header(absl::string_view name) const;
};

// One connection-reusing client (a curl easy handle). Not thread-safe: one per
// worker thread; HttpClientPool hands them out.
class HttpClient {
 public:
  HttpClient(HttpClientTls tls, std::string user_agent);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any HTTP status is a response; only transport failures are errors:
  //   DeadlineExceeded    timed out
  //   Unavailable         could not connect, connection lost, DNS failure
  //   FailedPrecondition  TLS failure (bad certificate, handshake)
  //   InvalidArgument     bad URL
  // Messages never contain the URL's path or query (they may hold secrets).
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A thread-safe pool of HttpClients sharing one TLS setup, so each of an
// output's workers reuses its own connection. Lease() returns a client to the
// pool when the lease ends.
class HttpClientPool {
 public:
  HttpClientPool(HttpClientTls tls, std::string user_agent);
  ~HttpClientPool();

  class Lease {
   public:
    Lease(HttpClientPool* pool, std::unique_ptr<HttpClient> client)
        : pool_(pool), client_(std::move(client)) {}
    Lease(Lease&&) = default;
    ~Lease();
    HttpClient* operator->() { return client_.get(); }
    HttpClient& operator*() { return *client_; }

   private:
    HttpClientPool* pool_;
    std::unique_ptr<HttpClient> client_;
  };

  Lease Acquire();

 private:
  const HttpClientTls tls_;
  const std::string user_agent_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<HttpClient>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace corral::core

#endif  // CORRAL_CORE_HTTP_CLIENT_H_
