#ifndef CORRAL_OUTPUTS_STDOUT_STDOUT_OUTPUT_H_
#define CORRAL_OUTPUTS_STDOUT_STDOUT_OUTPUT_H_

#include <memory>

#include "outputs/registry.h"

namespace corral::outputs {

// `type: stdout` — one line per alert on standard output (`format: json|text`).
std::unique_ptr<Output> CreateStdoutOutput(const core::OutputConfig& common,
                                           core::ConfigMap& map,
                                           const OutputContext& context);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_STDOUT_STDOUT_OUTPUT_H_
