#ifndef CORRAL_OUTPUTS_FILE_FILE_OUTPUT_H_
#define CORRAL_OUTPUTS_FILE_FILE_OUTPUT_H_

#include <memory>

#include "outputs/registry.h"

namespace corral::outputs {

// `type: file` — appends one line per alert to `path` (`format: json|text`),
// creating the file and its directory on start. Lines of one batch are written
// together and never interleave.
std::unique_ptr<Output> CreateFileOutput(const core::OutputConfig& common,
                                         core::ConfigMap& map,
                                         const OutputContext& context);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_FILE_FILE_OUTPUT_H_
