#ifndef CORRAL_ROUTER_OUTPUT_FILTER_H_
#define CORRAL_ROUTER_OUTPUT_FILTER_H_

#include <string>
#include <vector>

#include "core/alert.h"
#include "core/config.h"

namespace corral::router {

// Which alerts an output (or a gRPC subscriber) wants: priority at least
// min_priority, and, for each list that is not empty, the rule matching one of
// `rules` (exact name or shell glob), a tag among `tags`, the source among
// `sources`. Immutable, thread-safe.
class OutputFilter {
 public:
  explicit OutputFilter(const core::OutputConfig& config);
  OutputFilter(core::Priority min_priority, std::vector<std::string> rules,
               std::vector<std::string> tags, std::vector<std::string> sources);
  bool Matches(const core::Alert& alert) const;

 private:
  core::Priority min_priority_;
  std::vector<std::string> rules_;
  std::vector<std::string> tags_;
  std::vector<std::string> sources_;
};

}  // namespace corral::router

#endif  // CORRAL_ROUTER_OUTPUT_FILTER_H_
