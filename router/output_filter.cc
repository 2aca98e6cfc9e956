#include "router/output_filter.h"

#include <fnmatch.h>

#include <algorithm>

namespace corral::router {

OutputFilter::OutputFilter(const core::OutputConfig& config)
    : OutputFilter(config.min_priority, config.rules, config.tags,
                   config.sources) {}

OutputFilter::OutputFilter(core::Priority min_priority,
                           std::vector<std::string> rules,
                           std::vector<std::string> tags,
                           std::vector<std::string> sources)
    : min_priority_(min_priority),
      rules_(std::move(rules)),
      tags_(std::move(tags)),
      sources_(std::move(sources)) {}

bool OutputFilter::Matches(const core::Alert& alert) const {
  if (alert.priority < min_priority_) return false;
  if (!rules_.empty() &&
      std::none_of(
          rules_.begin(), rules_.end(), [&](const std::string& pattern) {
            return pattern == alert.rule ||
                   fnmatch(pattern.c_str(), alert.rule.c_str(), 0) == 0;
          })) {
    return false;
  }
  if (!tags_.empty() &&
      std::none_of(
          alert.tags.begin(), alert.tags.end(), [&](const std::string& tag) {
            return std::find(tags_.begin(), tags_.end(), tag) != tags_.end();
          })) {
    return false;
  }
  if (!sources_.empty() && std::find(sources_.begin(), sources_.end(),
                                     alert.source) == sources_.end()) {
    return false;
  }
  return true;
}

}  // namespace corral::router
