#ifndef CORRAL_ROUTER_DEAD_LETTER_H_
#define CORRAL_ROUTER_DEAD_LETTER_H_

#include <span>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/alert.h"
#include "core/clock.h"

namespace corral::router {

// The file where alerts go that an output gave up on (and input that could
// not become an alert, see WriteRejectedInput), one JSON object per line:
//   {"time":"...","output":"audit-hook","reason":"HTTP 400: bad payload",
//    "attempts":1,"last_status":400,"alert":{...Falco alert JSON...}}
// Lines are flushed to disk before Write() returns, so a dead letter survives
// a crash. Thread-safe.
class DeadLetterFile {
 public:
  DeadLetterFile(std::string path, core::Clock* clock);
  ~DeadLetterFile();

  // Creates the parent directory and opens the file for appending.
  absl::Status Open();
  // Appends one line per alert, all with the same output, reason, attempts and
  // last status; durable (fdatasync) before it returns OK. On failure nothing
  // of the batch stays in the file.
  absl::Status Write(std::span<const core::AlertPtr> alerts,
                     absl::string_view output, absl::string_view reason,
                     int attempts, int last_status);
  // Appends one line for input that can never become an alert (a Pub/Sub
  // message that is not an audit log entry), so that the input can let go of
  // it without losing it:
  //   {"time":"...","input":"gcpaudit/prod-audit","message_id":"...",
  //    "reason":"...","data_base64":"..."}
  // `data` is kept byte for byte (base64: it may not be text). Durable before
  // it returns OK.
  absl::Status WriteRejectedInput(absl::string_view input,
                                  absl::string_view message_id,
                                  absl::string_view reason,
                                  absl::string_view data);
  const std::string& path() const { return path_; }

 private:
  // Appends whole lines and fdatasyncs; on failure truncates what it wrote.
  absl::Status AppendDurably(const std::string& lines);

  const std::string path_;
  core::Clock* const clock_;
  absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace corral::router

#endif  // CORRAL_ROUTER_DEAD_LETTER_H_
