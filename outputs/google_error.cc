#include "outputs/google_error.h"

#include <boost/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "outputs/http_classifier.h"

namespace corral::outputs {
namespace {

constexpr size_t kMaxMessageBytes = 300;

// The string at `key`, or "".
std::string StringAt(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : "";
}

}  // namespace

std::string DescribeGoogleError(absl::string_view body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(
      boost::json::string_view(body.data(), body.size()), ec);
  if (ec || !v.is_object()) return "";
  const boost::json::value* error = v.as_object().if_contains("error");
  if (error == nullptr || !error->is_object()) return "";
  const boost::json::object& e = error->as_object();

  std::string reason;
  if (const boost::json::value* errors = e.if_contains("errors");
      errors != nullptr && errors->is_array() && !errors->as_array().empty() &&
      errors->as_array()[0].is_object()) {
    reason = StringAt(errors->as_array()[0].as_object(), "reason");
  }
  std::string message = StringAt(e, "message");
  if (message.size() > kMaxMessageBytes) message.resize(kMaxMessageBytes);

  std::string out;
  for (const std::string& part : {StringAt(e, "status"), reason, message}) {
    if (!part.empty()) absl::StrAppend(&out, out.empty() ? "" : ": ", part);
  }
  return out;
}

SendResult ClassifyGoogleHttp(
    const absl::StatusOr<core::HttpResponse>& response, absl::Time now) {
  SendResult result = ClassifyHttp(response, now);
  if (response.ok() && !result.delivered()) {
    if (std::string google = DescribeGoogleError(response->body);
        !google.empty()) {
      result.reason = absl::StrCat("HTTP ", response->status, ": ", google);
    }
    if (response->status == 401)
      result = SendResult::Retry(std::move(result.reason), 401);
  }
  return result;
}

}  // namespace corral::outputs
