#ifndef CORRAL_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define CORRAL_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

// Helpers shared by the libFuzzer targets of tests/fuzz (one executable per
// target, each defining LLVMFuzzerTestOneInput).
namespace corral::fuzz {

inline absl::string_view AsText(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// A property the code under test broke: prints `what` and `detail` to stderr
// and aborts, so that libFuzzer keeps the input as a crash.
[[noreturn]] void Fail(absl::string_view what, absl::string_view detail = "");

inline void Check(bool ok, absl::string_view what,
                  absl::string_view detail = "") {
  if (!ok) Fail(what, detail);
}

// The contents of every file in tests/fuzz/corpus/<target>/ (in name order),
// for targets that evaluate what they parse against real inputs: the
// rules-file and condition targets run their rules over the log_entry seeds.
std::vector<std::string> CorpusFiles(absl::string_view target);

}  // namespace corral::fuzz

#endif  // CORRAL_TESTS_FUZZ_FUZZ_SUPPORT_H_
