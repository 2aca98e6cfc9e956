#include "tests/fuzz/fuzz_support.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "core/file_util.h"

namespace corral::fuzz {

namespace {

// stderr as it was at start-up: libFuzzer's -close_fd_mask=2 (which keeps
// the code under test quiet) closes fd 2 later.
const int report_fd = ::dup(STDERR_FILENO);

}  // namespace

void Fail(absl::string_view what, absl::string_view detail) {
  const std::string report =
      absl::StrCat("fuzz property violated: ", what, "\n", detail, "\n");
  (void)!::write(report_fd, report.data(), report.size());
  std::abort();
}

std::vector<std::string> CorpusFiles(absl::string_view target) {
  const std::filesystem::path dir =
      absl::StrCat(CORRAL_FUZZ_CORPUS_DIR, "/", target);
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> out;
  for (const auto& path : paths) {
    absl::StatusOr<std::string> text = core::ReadFileToString(path.string());
    Check(text.ok(), "cannot read a corpus file", path.string());
    out.push_back(*std::move(text));
  }
  Check(!out.empty(), "empty corpus", dir.string());
  return out;
}

}  // namespace corral::fuzz
