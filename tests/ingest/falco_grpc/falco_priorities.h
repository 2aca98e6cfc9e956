#ifndef CORRAL_TESTS_INGEST_FALCO_GRPC_FALCO_PRIORITIES_H_
#define CORRAL_TESTS_INGEST_FALCO_GRPC_FALCO_PRIORITIES_H_

#include <utility>
#include <vector>

#include "core/priority.h"
#include "falco/schema.pb.h"

namespace corral::ingest::falco_grpc {

// Every Falco priority with the corral priority it must become, most severe
// first.
inline const std::vector<std::pair<falco::schema::priority, core::Priority>>&
FalcoPriorities() {
  static const auto* const kAll =
      new std::vector<std::pair<falco::schema::priority, core::Priority>>{
          {falco::schema::EMERGENCY, core::Priority::kEmergency},
          {falco::schema::ALERT, core::Priority::kAlert},
          {falco::schema::CRITICAL, core::Priority::kCritical},
          {falco::schema::ERROR, core::Priority::kError},
          {falco::schema::WARNING, core::Priority::kWarning},
          {falco::schema::NOTICE, core::Priority::kNotice},
          {falco::schema::INFORMATIONAL, core::Priority::kInformational},
          {falco::schema::DEBUG, core::Priority::kDebug}};
  return *kAll;
}

}  // namespace corral::ingest::falco_grpc

#endif  // CORRAL_TESTS_INGEST_FALCO_GRPC_FALCO_PRIORITIES_H_
