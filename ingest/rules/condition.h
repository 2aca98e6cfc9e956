#ifndef CORRAL_INGEST_RULES_CONDITION_H_
#define CORRAL_INGEST_RULES_CONDITION_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ingest/gcpaudit/log_entry_fields.h"

namespace corral::ingest::rules {

// The comparison operators of the Falco rules language (PROTOCOLS.md §6).
enum class CmpOp {
  kEq,  // = and ==
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kContains,
  kIContains,
  kBContains,
  kStartsWith,
  kBStartsWith,
  kEndsWith,
  kGlob,
  kIGlob,
  kRegex,
  kIn,
  kIntersects,
  kPMatch,
  kExists,
};

// The operator spelled `name` exactly as in a condition ("=", "<=",
// "contains", "exists", ...); nullopt when it is none.
std::optional<CmpOp> CmpOpFromName(absl::string_view name);

// One value on the right of an operator. `bare` values (unquoted) in a list
// may name a list, which is expanded at compile time.
struct AstValue {
  std::string text;
  bool bare = false;
};

// The parsed, not yet resolved, form of a condition. Macro references and
// list names are kept by name; field names are not yet checked.
struct AstNode {
  enum class Kind { kAnd, kOr, kNot, kCompare, kMacro };
  Kind kind = Kind::kAnd;
  size_t offset = 0;  // where the node starts in the condition text
  std::vector<std::unique_ptr<AstNode>> children;  // and / or / not
  // kCompare:
  std::string field;
  std::optional<std::string> field_arg;
  CmpOp op = CmpOp::kEq;
  std::vector<AstValue> values;  // one for scalar operators
  bool list_operand = false;     // in / intersects / pmatch
  // kMacro:
  std::string macro;
};

// How deep a condition may nest (parentheses and `not`), also once macros are
// expanded, and how many nodes it may have then: parsing, compiling and
// matching recurse once per level, and a rules file must not be able to
// exhaust the stack or, with macros that use a macro twice, memory.
inline constexpr int kMaxConditionDepth = 500;
inline constexpr size_t kMaxConditionNodes = 100000;

// Parses a condition. `not` binds tighter than `and`, `and` tighter than
// `or`. On a syntax error returns InvalidArgument "at column N: expected
// ..." (N is 1-based into `text`); nesting deeper than kMaxConditionDepth is
// an error too.
absl::StatusOr<std::unique_ptr<AstNode>> ParseCondition(absl::string_view text);

// Deep copy (exceptions and macro expansion build on copies).
std::unique_ptr<AstNode> CloneAst(const AstNode& node);

// What a condition may refer to while compiling. Lists are already expanded.
// Macros in `failed_macros` were reported already: a condition using one fails
// with FailedPrecondition so that the caller can avoid repeating the error.
struct CompileEnv {
  const absl::flat_hash_map<std::string, std::vector<std::string>>* lists =
      nullptr;
  const absl::flat_hash_map<std::string, const AstNode*>* macros = nullptr;
  const absl::flat_hash_set<std::string>* failed_macros = nullptr;
};

struct CompiledNode;

// A condition with macros inlined, lists resolved, regexes compiled and field
// names resolved to extractors. Immutable; Matches() is thread-safe.
class Condition {
 public:
  // Errors (InvalidArgument) name what is wrong: an unknown field or macro, a
  // bad regex, an invalid hex string, a macro cycle, a condition deeper than
  // kMaxConditionDepth or larger than kMaxConditionNodes with its macros
  // expanded.
  static absl::StatusOr<Condition> Compile(const AstNode& ast,
                                           const CompileEnv& env);

  Condition(Condition&&) noexcept;
  Condition& operator=(Condition&&) noexcept;
  ~Condition();

  // A comparison on a field with no value is false, whatever the operator.
  bool Matches(const gcpaudit::LogEntryFields& entry) const;

 private:
  explicit Condition(std::unique_ptr<CompiledNode> root);
  std::unique_ptr<CompiledNode> root_;
};

}  // namespace corral::ingest::rules

#endif  // CORRAL_INGEST_RULES_CONDITION_H_
