#include "ingest/rules/condition.h"

#include <fnmatch.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"

namespace corral::ingest::rules {
namespace {

using gcpaudit::FieldRef;
using gcpaudit::LogEntryFields;

struct OpName {
  absl::string_view name;
  CmpOp op;
};

// Symbolic operators, longest first so that "<=" is not read as "<".
constexpr OpName kSymbolOps[] = {
    {"==", CmpOp::kEq}, {"!=", CmpOp::kNe}, {"<=", CmpOp::kLe},
    {">=", CmpOp::kGe}, {"=", CmpOp::kEq},  {"<", CmpOp::kLt},
    {">", CmpOp::kGt},
};

// Keyword operators.
constexpr OpName kWordOps[] = {
    {"contains", CmpOp::kContains},
    {"icontains", CmpOp::kIContains},
    {"bcontains", CmpOp::kBContains},
    {"startswith", CmpOp::kStartsWith},
    {"bstartswith", CmpOp::kBStartsWith},
    {"endswith", CmpOp::kEndsWith},
    {"glob", CmpOp::kGlob},
    {"iglob", CmpOp::kIGlob},
    {"regex", CmpOp::kRegex},
    {"in", CmpOp::kIn},
    {"intersects", CmpOp::kIntersects},
    {"pmatch", CmpOp::kPMatch},
    {"exists", CmpOp::kExists},
};

}  // namespace

std::optional<CmpOp> CmpOpFromName(absl::string_view name) {
  for (const OpName& o : kSymbolOps) {
    if (o.name == name) return o.op;
  }
  for (const OpName& o : kWordOps) {
    if (o.name == name) return o.op;
  }
  return std::nullopt;
}

namespace {

bool IsListOp(CmpOp op) {
  return op == CmpOp::kIn || op == CmpOp::kIntersects || op == CmpOp::kPMatch;
}

bool IsIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsIdentChar(char c) {
  return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
}

// Recursive descent over the raw text: what a token means depends on where it
// stands (a bare value may contain dots and slashes that a field name may not),
// so there is no separate token stream.
class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<std::unique_ptr<AstNode>> Parse() {
    auto node = ParseOr();
    if (!node.ok()) return node;
    SkipSpace();
    if (pos_ < text_.size()) return Error("'and', 'or' or the end");
    return node;
  }

 private:
  absl::Status Error(absl::string_view expected) const {
    std::string found = pos_ < text_.size()
                            ? absl::StrCat("\"", text_.substr(pos_, 20), "\"")
                            : std::string("the end of the condition");
    return absl::InvalidArgumentError(absl::StrCat(
        "at column ", pos_ + 1, ": expected ", expected, ", found ", found));
  }

  // One more level of nesting while it lives.
  class Nested {
   public:
    explicit Nested(Parser* parser) : parser_(parser) { ++parser_->depth_; }
    ~Nested() { --parser_->depth_; }
    bool ok() const { return parser_->depth_ <= kMaxConditionDepth; }

   private:
    Parser* const parser_;
  };

  absl::Status TooDeep() const {
    return absl::InvalidArgumentError(
        absl::StrCat("at column ", pos_ + 1, ": nested deeper than ",
                     kMaxConditionDepth, " levels"));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(text_[pos_])) ++pos_;
  }

  // The identifier at pos_ (field, macro or keyword), without consuming it.
  absl::string_view PeekIdent() const {
    size_t end = pos_;
    if (end >= text_.size() || !IsIdentStart(text_[end])) return {};
    while (end < text_.size() && IsIdentChar(text_[end])) ++end;
    return text_.substr(pos_, end - pos_);
  }

  // Consumes `word` if it is the next identifier.
  bool AcceptKeyword(absl::string_view word) {
    SkipSpace();
    if (PeekIdent() != word) return false;
    pos_ += word.size();
    return true;
  }

  absl::StatusOr<std::unique_ptr<AstNode>> ParseOr() {
    return ParseChain(AstNode::Kind::kOr, "or", [this] { return ParseAnd(); });
  }
  absl::StatusOr<std::unique_ptr<AstNode>> ParseAnd() {
    return ParseChain(AstNode::Kind::kAnd, "and",
                      [this] { return ParseNot(); });
  }

  template <typename Next>
  absl::StatusOr<std::unique_ptr<AstNode>> ParseChain(AstNode::Kind kind,
                                                      absl::string_view word,
                                                      Next next) {
    SkipSpace();
    size_t start = pos_;
    auto first = next();
    if (!first.ok()) return first;
    if (!AcceptKeyword(word)) return first;
    auto node = std::make_unique<AstNode>();
    node->kind = kind;
    node->offset = start;
    node->children.push_back(*std::move(first));
    do {
      auto more = next();
      if (!more.ok()) return more;
      node->children.push_back(*std::move(more));
    } while (AcceptKeyword(word));
    return node;
  }

  absl::StatusOr<std::unique_ptr<AstNode>> ParseNot() {
    SkipSpace();
    size_t start = pos_;
    if (AcceptKeyword("not")) {
      Nested nested(this);
      if (!nested.ok()) return TooDeep();
      auto child = ParseNot();
      if (!child.ok()) return child;
      auto node = std::make_unique<AstNode>();
      node->kind = AstNode::Kind::kNot;
      node->offset = start;
      node->children.push_back(*std::move(child));
      return node;
    }
    return ParsePrimary();
  }

  absl::StatusOr<std::unique_ptr<AstNode>> ParsePrimary() {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '(') {
      Nested nested(this);
      if (!nested.ok()) return TooDeep();
      ++pos_;
      auto inner = ParseOr();
      if (!inner.ok()) return inner;
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ')') return Error("')'");
      ++pos_;
      return inner;
    }
    size_t start = pos_;
    absl::string_view ident = PeekIdent();
    if (ident.empty() || ident == "and" || ident == "or") {
      return Error("a field, a macro, 'not' or '('");
    }
    pos_ += ident.size();
    auto node = std::make_unique<AstNode>();
    node->offset = start;
    if (pos_ < text_.size() && text_[pos_] == '[') {
      size_t close = text_.find(']', pos_);
      if (close == absl::string_view::npos) return Error("']'");
      node->field_arg = std::string(text_.substr(pos_ + 1, close - pos_ - 1));
      pos_ = close + 1;
    }
    SkipSpace();
    std::optional<CmpOp> op = ParseOperator();
    if (!op.has_value()) {
      if (node->field_arg.has_value()) return Error("an operator");
      node->kind = AstNode::Kind::kMacro;
      node->macro = std::string(ident);
      return node;
    }
    node->kind = AstNode::Kind::kCompare;
    node->field = std::string(ident);
    node->op = *op;
    if (*op == CmpOp::kExists) return node;
    SkipSpace();
    if (IsListOp(*op)) {
      node->list_operand = true;
      absl::Status s = ParseList(&node->values);
      if (!s.ok()) return s;
      return node;
    }
    absl::StatusOr<AstValue> value = ParseValue(/*in_list=*/false);
    if (!value.ok()) return value.status();
    node->values.push_back(*std::move(value));
    return node;
  }

  std::optional<CmpOp> ParseOperator() {
    absl::string_view rest = text_.substr(pos_);
    for (const OpName& s : kSymbolOps) {
      if (absl::StartsWith(rest, s.name)) {
        pos_ += s.name.size();
        return s.op;
      }
    }
    absl::string_view word = PeekIdent();
    for (const OpName& o : kWordOps) {
      if (word == o.name) {
        pos_ += word.size();
        return o.op;
      }
    }
    return std::nullopt;
  }

  absl::StatusOr<AstValue> ParseValue(bool in_list) {
    if (pos_ >= text_.size()) return Error("a value");
    char quote = text_[pos_];
    if (quote == '"' || quote == '\'') {
      std::string out;
      for (size_t i = pos_ + 1; i < text_.size(); ++i) {
        char c = text_[i];
        if (c == quote) {
          pos_ = i + 1;
          return AstValue{std::move(out), false};
        }
        // Only the quote and the backslash are escapable; anything else keeps
        // its backslash, so regexes like "a\.b" survive unchanged.
        if (c == '\\' && i + 1 < text_.size() &&
            (text_[i + 1] == quote || text_[i + 1] == '\\')) {
          c = text_[++i];
        }
        out.push_back(c);
      }
      return Error(absl::StrCat("a closing ", std::string(1, quote)));
    }
    size_t start = pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (absl::ascii_isspace(c) || c == '(' || c == ')' ||
          (in_list && c == ',')) {
        break;
      }
      ++pos_;
    }
    if (pos_ == start) return Error("a value");
    return AstValue{std::string(text_.substr(start, pos_ - start)), true};
  }

  absl::Status ParseList(std::vector<AstValue>* out) {
    if (pos_ < text_.size() && text_[pos_] == '(') {
      ++pos_;
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ')') {
        ++pos_;
        return absl::OkStatus();
      }
      while (true) {
        SkipSpace();
        absl::StatusOr<AstValue> v = ParseValue(/*in_list=*/true);
        if (!v.ok()) return v.status();
        out->push_back(*std::move(v));
        SkipSpace();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == ')') {
          ++pos_;
          return absl::OkStatus();
        }
        return Error("',' or ')'");
      }
    }
    absl::string_view name = PeekIdent();
    if (name.empty()) return Error("a list: '(' or a list name");
    pos_ += name.size();
    out->push_back(AstValue{std::string(name), true});
    return absl::OkStatus();
  }

  absl::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// bcontains / bstartswith operands are hex-encoded bytes ("48656c6c6f").
absl::StatusOr<std::string> DecodeHex(absl::string_view hex) {
  auto nibble = [](char c) {
    return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
  };
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", hex, "\" is not hex bytes (odd length)"));
  }
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (!absl::ascii_isxdigit(hex[i]) || !absl::ascii_isxdigit(hex[i + 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", hex, "\" is not hex bytes"));
    }
    out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  }
  return out;
}

// Path-prefix match on whole components: "/tmp" matches "/tmp" and "/tmp/x"
// but not "/tmpx".
bool PathPrefixMatch(absl::string_view path, absl::string_view prefix) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  if (!absl::StartsWith(path, prefix)) return false;
  return path.size() == prefix.size() || prefix == "/" ||
         path[prefix.size()] == '/';
}

}  // namespace

struct CompiledNode {
  AstNode::Kind kind = AstNode::Kind::kAnd;
  std::vector<CompiledNode> children;
  FieldRef field{};
  CmpOp op = CmpOp::kEq;
  std::string value;             // scalar operand; raw bytes for b* operators
  std::optional<double> number;  // `value` as a number, for < <= > >=
  absl::flat_hash_set<std::string> set;  // in / intersects
  std::vector<std::string> list;         // pmatch
  std::shared_ptr<const RE2> regex;
};

namespace {

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

class Compiler {
 public:
  explicit Compiler(const CompileEnv& env) : env_(env) {}

  absl::Status Compile(const AstNode& ast, CompiledNode* out) {
    // Macros are inlined: the compiled tree can be far deeper and larger than
    // any one condition's text.
    if (depth_ >= kMaxConditionDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat("nested deeper than ", kMaxConditionDepth,
                       " levels with its macros expanded"));
    }
    if (++nodes_ > kMaxConditionNodes) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", kMaxConditionNodes,
                       " operators and comparisons with its macros expanded"));
    }
    ++depth_;
    absl::Status s = CompileNode(ast, out);
    --depth_;
    return s;
  }

 private:
  absl::Status CompileNode(const AstNode& ast, CompiledNode* out) {
    out->kind = ast.kind;
    switch (ast.kind) {
      case AstNode::Kind::kAnd:
      case AstNode::Kind::kOr:
      case AstNode::Kind::kNot:
        out->children.resize(ast.children.size());
        for (size_t i = 0; i < ast.children.size(); ++i) {
          absl::Status s = Compile(*ast.children[i], &out->children[i]);
          if (!s.ok()) return s;
        }
        return absl::OkStatus();
      case AstNode::Kind::kMacro:
        return CompileMacro(ast, out);
      case AstNode::Kind::kCompare:
        return CompileCompare(ast, out);
    }
    return absl::InternalError("unknown node");
  }

  absl::Status CompileMacro(const AstNode& ast, CompiledNode* out) {
    if (env_.failed_macros != nullptr &&
        env_.failed_macros->contains(ast.macro)) {
      return absl::FailedPreconditionError(
          absl::StrCat("uses macro ", Quote(ast.macro), ", which has errors"));
    }
    const AstNode* body = nullptr;
    if (env_.macros != nullptr) {
      auto it = env_.macros->find(ast.macro);
      if (it != env_.macros->end()) body = it->second;
    }
    if (body == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "at column ", ast.offset + 1, ": ", Quote(ast.macro),
          " is not a defined macro (or a field without an operator)"));
    }
    for (const std::string& m : stack_) {
      if (m == ast.macro) {
        return absl::InvalidArgumentError(
            absl::StrCat("macro ", Quote(ast.macro), " refers to itself"));
      }
    }
    stack_.push_back(ast.macro);
    absl::Status s = Compile(*body, out);
    stack_.pop_back();
    if (!s.ok() && s.code() == absl::StatusCode::kInvalidArgument &&
        !absl::StartsWith(s.message(), "in macro ")) {
      return absl::InvalidArgumentError(
          absl::StrCat("in macro ", Quote(ast.macro), ": ", s.message()));
    }
    return s;
  }

  absl::Status CompileCompare(const AstNode& ast, CompiledNode* out) {
    std::optional<absl::string_view> arg;
    if (ast.field_arg.has_value()) arg = *ast.field_arg;
    absl::StatusOr<FieldRef> field = gcpaudit::ResolveField(ast.field, arg);
    if (!field.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "at column ", ast.offset + 1, ": ", field.status().message()));
    }
    out->field = *std::move(field);
    out->op = ast.op;
    if (ast.op == CmpOp::kExists) return absl::OkStatus();
    if (ast.list_operand) {
      std::vector<std::string> items;
      for (const AstValue& v : ast.values) {
        const std::vector<std::string>* named = nullptr;
        if (v.bare && env_.lists != nullptr) {
          auto it = env_.lists->find(v.text);
          if (it != env_.lists->end()) named = &it->second;
        }
        if (named != nullptr) {
          items.insert(items.end(), named->begin(), named->end());
        } else {
          items.push_back(v.text);
        }
      }
      if (ast.op == CmpOp::kPMatch) {
        out->list = std::move(items);
      } else {
        out->set.insert(items.begin(), items.end());
      }
      return absl::OkStatus();
    }
    const std::string& text = ast.values.front().text;
    switch (ast.op) {
      case CmpOp::kBContains:
      case CmpOp::kBStartsWith: {
        absl::StatusOr<std::string> bytes = DecodeHex(text);
        if (!bytes.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "at column ", ast.offset + 1, ": ", bytes.status().message()));
        }
        out->value = *std::move(bytes);
        return absl::OkStatus();
      }
      case CmpOp::kRegex: {
        RE2::Options options;
        options.set_log_errors(false);
        auto re = std::make_shared<RE2>(text, options);
        if (!re->ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("at column ", ast.offset + 1, ": bad regex ",
                           Quote(text), ": ", re->error()));
        }
        out->regex = std::move(re);
        break;
      }
      case CmpOp::kIContains:
        out->value = absl::AsciiStrToLower(text);
        return absl::OkStatus();
      case CmpOp::kLt:
      case CmpOp::kLe:
      case CmpOp::kGt:
      case CmpOp::kGe: {
        double d;
        if (absl::SimpleAtod(text, &d)) out->number = d;
        break;
      }
      default:
        break;
    }
    out->value = text;
    return absl::OkStatus();
  }

  const CompileEnv& env_;
  std::vector<std::string> stack_;
  int depth_ = 0;     // of the node being compiled
  size_t nodes_ = 0;  // compiled so far
};

// < <= > >=: numerically when both sides are numbers, else byte-wise.
int Order(const CompiledNode& n, const std::string& value) {
  double d;
  if (n.number.has_value() && absl::SimpleAtod(value, &d)) {
    return d < *n.number ? -1 : (d > *n.number ? 1 : 0);
  }
  int c = value.compare(n.value);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

bool Eval(const CompiledNode& n, const LogEntryFields& entry) {
  switch (n.kind) {
    case AstNode::Kind::kAnd:
      for (const CompiledNode& c : n.children) {
        if (!Eval(c, entry)) return false;
      }
      return true;
    case AstNode::Kind::kOr:
      for (const CompiledNode& c : n.children) {
        if (Eval(c, entry)) return true;
      }
      return false;
    case AstNode::Kind::kNot:
      return !Eval(n.children.front(), entry);
    case AstNode::Kind::kMacro:  // inlined at compile time
    case AstNode::Kind::kCompare:
      break;
  }
  const std::string* value = entry.Lookup(n.field);
  // The missing-field rule: no value, no match, for every operator.
  if (value == nullptr) return false;
  const std::string& v = *value;
  switch (n.op) {
    case CmpOp::kEq:
      return v == n.value;
    case CmpOp::kNe:
      return v != n.value;
    case CmpOp::kLt:
      return Order(n, v) < 0;
    case CmpOp::kLe:
      return Order(n, v) <= 0;
    case CmpOp::kGt:
      return Order(n, v) > 0;
    case CmpOp::kGe:
      return Order(n, v) >= 0;
    case CmpOp::kContains:
    case CmpOp::kBContains:
      return absl::StrContains(v, n.value);
    case CmpOp::kIContains:
      return absl::StrContains(absl::AsciiStrToLower(v), n.value);
    case CmpOp::kStartsWith:
    case CmpOp::kBStartsWith:
      return absl::StartsWith(v, n.value);
    case CmpOp::kEndsWith:
      return absl::EndsWith(v, n.value);
    case CmpOp::kGlob:
      return fnmatch(n.value.c_str(), v.c_str(), 0) == 0;
    case CmpOp::kIGlob:
      return fnmatch(n.value.c_str(), v.c_str(), FNM_CASEFOLD) == 0;
    case CmpOp::kRegex:
      return RE2::FullMatch(v, *n.regex);
    case CmpOp::kIn:
    case CmpOp::kIntersects:
      // gcp fields are single strings: intersects is membership of the
      // one-element set.
      return n.set.contains(v);
    case CmpOp::kPMatch:
      for (const std::string& prefix : n.list) {
        if (PathPrefixMatch(v, prefix)) return true;
      }
      return false;
    case CmpOp::kExists:
      return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AstNode>> ParseCondition(
    absl::string_view text) {
  return Parser(text).Parse();
}

std::unique_ptr<AstNode> CloneAst(const AstNode& node) {
  auto copy = std::make_unique<AstNode>();
  copy->kind = node.kind;
  copy->offset = node.offset;
  for (const auto& c : node.children) copy->children.push_back(CloneAst(*c));
  copy->field = node.field;
  copy->field_arg = node.field_arg;
  copy->op = node.op;
  copy->values = node.values;
  copy->list_operand = node.list_operand;
  copy->macro = node.macro;
  return copy;
}

Condition::Condition(std::unique_ptr<CompiledNode> root)
    : root_(std::move(root)) {}
Condition::Condition(Condition&&) noexcept = default;
Condition& Condition::operator=(Condition&&) noexcept = default;
Condition::~Condition() = default;

absl::StatusOr<Condition> Condition::Compile(const AstNode& ast,
                                             const CompileEnv& env) {
  auto root = std::make_unique<CompiledNode>();
  Compiler compiler(env);
  absl::Status s = compiler.Compile(ast, root.get());
  if (!s.ok()) return s;
  return Condition(std::move(root));
}

bool Condition::Matches(const gcpaudit::LogEntryFields& entry) const {
  return Eval(*root_, entry);
}

}  // namespace corral::ingest::rules
