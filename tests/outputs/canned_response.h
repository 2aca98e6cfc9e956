#ifndef CORRAL_TESTS_OUTPUTS_CANNED_RESPONSE_H_
#define CORRAL_TESTS_OUTPUTS_CANNED_RESPONSE_H_

#include <string>
#include <utility>

#include "core/http_client.h"

namespace corral::outputs {

// A destination's answer, for testing how an output classifies it.
inline core::HttpResponse Response(int status, std::string body = "",
                                   core::HttpHeaders headers = {}) {
  core::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

}  // namespace corral::outputs

#endif  // CORRAL_TESTS_OUTPUTS_CANNED_RESPONSE_H_
