#ifndef CORRAL_CORE_FIELD_TEMPLATE_H_
#define CORRAL_CORE_FIELD_TEMPLATE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace boost::json {
class object;
}  // namespace boost::json

namespace corral::core {

// A Falcosidekick `templatedfields` value: a Go text/template that is executed
// with an alert's output fields as its data (`.`), the result becoming the
// value of an output field. corral implements the part of the language such
// values are written in:
//   - text, and actions `{{ ... }}` with `{{-` / `-}}` trimming whitespace and
//     `{{/* comments */}}`;
//   - operands: `.`, `.name` and `.a.b` (fields by name), `"strings"` with Go
//     escapes, `` `raw strings` ``, numbers, `true`, `false`, `nil`, and
//     `( ... )`;
//   - functions: and, eq, index, len, ne, not, or, print, printf (verbs %s,
//     %v, %d, %q, %% without flags, width or precision), and pipelines
//     `a | b` (a's value is b's last argument);
//   - `{{ if }}`, `{{ else }}`, `{{ else if }}`, `{{ end }}`.
// Anything else (variables, range, with, define, other functions or verbs)
// is refused at Parse with the construct named; ifs (else-if chains
// included) and parentheses nest at most 64 deep. Evaluation never fails: a
// missing field prints as Go prints it, `<no value>` (`<nil>` inside print
// and printf); numbers print as they arrived.
// Immutable and cheap to copy (the parsed form is shared); thread-safe.
class FieldTemplate {
 public:
  static absl::StatusOr<FieldTemplate> Parse(absl::string_view text);

  std::string Render(const boost::json::object& fields) const;

  const std::string& text() const { return text_; }
  bool operator==(const FieldTemplate& other) const {
    return text_ == other.text_;
  }

  struct Node;  // the parsed form (field_template.cc)

 private:
  FieldTemplate(std::string text, std::shared_ptr<const Node> root)
      : text_(std::move(text)), root_(std::move(root)) {}

  std::string text_;
  std::shared_ptr<const Node> root_;
};

}  // namespace corral::core

#endif  // CORRAL_CORE_FIELD_TEMPLATE_H_
