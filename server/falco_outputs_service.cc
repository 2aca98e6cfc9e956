#include "server/falco_outputs_service.h"

#include "absl/strings/str_cat.h"
#include "server/alert_proto.h"
#include "server/grpc_auth.h"

namespace corral::server {
namespace {

// Alerts taken per wake-up; each is its own Write (see alerts_service.cc on
// why not gRPC's buffer hint).
constexpr size_t kWriteBatch = 256;

router::OutputFilter Everything() {
  return router::OutputFilter(core::Priority::kDebug, {}, {}, {});
}

// What a drain ended with.
struct Drained {
  bool write_failed = false;
  bool overflowed = false;
  bool closed = false;
};

// Writes every alert `queue` holds now, without waiting for more.
template <typename Writer>
Drained DrainPending(router::AlertFeed::Subscription& queue, Writer* writer) {
  Drained drained;
  while (true) {
    router::AlertFeed::Batch batch =
        queue.Next(absl::InfinitePast(), kWriteBatch);
    for (const core::AlertPtr& alert : batch.alerts) {
      falco::outputs::response response;
      AlertToFalcoResponse(*alert, &response);
      if (!writer->Write(response)) {
        drained.write_failed = true;
        return drained;
      }
    }
    if (batch.alerts.empty() || batch.overflowed || batch.closed) {
      drained.overflowed = batch.overflowed;
      drained.closed = batch.closed;
      return drained;
    }
  }
}

}  // namespace

FalcoOutputsService::FalcoOutputsService(std::string auth_token,
                                         int64_t subscriber_buffer,
                                         router::AlertFeed* feed)
    : auth_token_(std::move(auth_token)),
      subscriber_buffer_(subscriber_buffer),
      feed_(feed) {}

FalcoOutputsService::~FalcoOutputsService() = default;

grpc::Status FalcoOutputsService::sub(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<falco::outputs::response, falco::outputs::request>*
        stream) {
  if (grpc::Status auth = CheckBearerToken(*context, auth_token_); !auth.ok()) {
    return auth;
  }
  std::unique_ptr<router::AlertFeed::Subscription> pending =
      feed_->Subscribe(Everything(), subscriber_buffer_);
  falco::outputs::request request;
  while (stream->Read(&request)) {
    const Drained drained = DrainPending(*pending, stream);
    if (drained.write_failed) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
    if (drained.overflowed) {
      return grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("more than ", subscriber_buffer_,
                       " alerts piled up between requests; later ones were "
                       "not kept for this stream"));
    }
    if (drained.closed) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "corral is shutting down");
    }
  }
  return grpc::Status::OK;
}

grpc::Status FalcoOutputsService::get(
    grpc::ServerContext* context, const falco::outputs::request* request,
    grpc::ServerWriter<falco::outputs::response>* writer) {
  if (grpc::Status auth = CheckBearerToken(*context, auth_token_); !auth.ok()) {
    return auth;
  }
  absl::MutexLock lock(&get_mu_);
  if (get_queue_ == nullptr) {
    get_queue_ = feed_->Subscribe(Everything(), subscriber_buffer_);
  }
  const Drained drained = DrainPending(*get_queue_, writer);
  if (drained.overflowed) {
    // Start a fresh queue: the next get carries on from now.
    get_queue_ = feed_->Subscribe(Everything(), subscriber_buffer_);
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("more than ", subscriber_buffer_,
                     " alerts piled up between get calls; later ones were not "
                     "kept for get"));
  }
  if (drained.write_failed) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }
  return grpc::Status::OK;
}

}  // namespace corral::server
