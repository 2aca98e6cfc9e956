#include "ingest/rules/condition.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::ingest::rules {
namespace {

using gcpaudit::LogEntryFields;
using ::testing::HasSubstr;

// An audit entry with methodName "v1.compute.instances.insert", serviceName
// "compute.googleapis.com", callerIp "10.0.0.5", resourceName "/a/b/c",
// projectId "42", and no userAgent.
LogEntryFields TestEntry() {
  auto e = LogEntryFields::Parse(
      R"({"timestamp":"2024-11-19T13:13:13Z","resource":{"labels":{"project_id":"42"}},)"
      R"("protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",)"
      R"("methodName":"v1.compute.instances.insert","serviceName":"compute.googleapis.com",)"
      R"("resourceName":"/a/b/c","requestMetadata":{"callerIp":"10.0.0.5"}}})");
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

class ConditionTest : public ::testing::Test {
 protected:
  absl::StatusOr<Condition> Compile(const std::string& text) {
    auto ast = ParseCondition(text);
    if (!ast.ok()) return ast.status();
    CompileEnv env{&lists_, &macro_ptrs_, &failed_};
    return Condition::Compile(**ast, env);
  }

  // Compiles and evaluates; a compile error fails the test.
  bool Eval(const std::string& text) {
    auto c = Compile(text);
    EXPECT_TRUE(c.ok()) << text << ": " << c.status();
    return c.ok() && c->Matches(entry_);
  }

  void DefineMacro(const std::string& name, const std::string& text) {
    auto ast = ParseCondition(text);
    ASSERT_TRUE(ast.ok()) << ast.status();
    macro_ptrs_[name] = ast->get();
    macro_asts_.push_back(*std::move(ast));
  }

  LogEntryFields entry_ = TestEntry();
  absl::flat_hash_map<std::string, std::vector<std::string>> lists_;
  std::vector<std::unique_ptr<AstNode>> macro_asts_;
  absl::flat_hash_map<std::string, const AstNode*> macro_ptrs_;
  absl::flat_hash_set<std::string> failed_;
};

TEST_F(ConditionTest, EqualityOperators) {
  EXPECT_TRUE(Eval("gcp.serviceName = compute.googleapis.com"));
  EXPECT_TRUE(Eval("gcp.serviceName=\"compute.googleapis.com\""));
  EXPECT_TRUE(Eval("gcp.serviceName == 'compute.googleapis.com'"));
  EXPECT_FALSE(Eval("gcp.serviceName = compute"));
  EXPECT_TRUE(Eval("gcp.serviceName != compute"));
  EXPECT_FALSE(Eval("gcp.serviceName != compute.googleapis.com"));
}

TEST_F(ConditionTest, OrderingIsNumericForNumbersElseLexical) {
  EXPECT_TRUE(Eval("gcp.projectId > 9"));  // 42 > 9 numerically
  EXPECT_TRUE(Eval("gcp.projectId >= 42"));
  EXPECT_FALSE(Eval("gcp.projectId > 42"));
  EXPECT_TRUE(Eval("gcp.projectId < 100"));
  EXPECT_TRUE(Eval("gcp.projectId <= 42"));
  EXPECT_FALSE(Eval("gcp.projectId < 42"));
  EXPECT_TRUE(Eval("gcp.serviceName > compute"));  // lexical
  EXPECT_FALSE(Eval("gcp.serviceName < compute"));
}

TEST_F(ConditionTest, StringOperators) {
  EXPECT_TRUE(Eval("gcp.methodName contains instances"));
  EXPECT_FALSE(Eval("gcp.methodName contains INSTANCES"));
  EXPECT_TRUE(Eval("gcp.methodName icontains INSTANCES"));
  EXPECT_FALSE(Eval("gcp.methodName icontains disks"));
  EXPECT_TRUE(Eval("gcp.methodName startswith v1.compute"));
  EXPECT_FALSE(Eval("gcp.methodName startswith compute"));
  EXPECT_TRUE(Eval("gcp.methodName endswith .insert"));
  EXPECT_FALSE(Eval("gcp.methodName endswith .delete"));
}

TEST_F(ConditionTest, ByteOperatorsTakeHex) {
  // "compute" = 636f6d70757465, "v1" = 7631
  EXPECT_TRUE(Eval("gcp.methodName bcontains 636f6d70757465"));
  EXPECT_FALSE(Eval("gcp.methodName bcontains 636f6d70757466"));
  EXPECT_TRUE(Eval("gcp.methodName bstartswith 7631"));
  EXPECT_FALSE(Eval("gcp.methodName bstartswith 636f"));
  EXPECT_THAT(Compile("gcp.methodName bcontains 7g").status().message(),
              HasSubstr("hex"));
  EXPECT_FALSE(Compile("gcp.methodName bstartswith 763").ok());
}

TEST_F(ConditionTest, GlobOperators) {
  EXPECT_TRUE(Eval("gcp.methodName glob 'v1.*.insert'"));
  EXPECT_TRUE(Eval("gcp.methodName glob v?.compute.*"));
  EXPECT_FALSE(Eval("gcp.methodName glob '*.delete'"));
  EXPECT_FALSE(Eval("gcp.methodName glob 'V1.*'"));
  EXPECT_TRUE(Eval("gcp.methodName iglob 'V1.COMPUTE.*'"));
}

TEST_F(ConditionTest, RegexIsAFullMatch) {
  EXPECT_TRUE(Eval(R"(gcp.methodName regex "v[0-9]+\.compute\..*")"));
  EXPECT_FALSE(Eval("gcp.methodName regex compute"));  // partial is no match
  EXPECT_TRUE(Eval("gcp.methodName regex '.*compute.*'"));
  EXPECT_THAT(Compile("gcp.methodName regex '('").status().message(),
              HasSubstr("bad regex"));
}

TEST_F(ConditionTest, ListOperators) {
  EXPECT_TRUE(Eval("gcp.callerIP in (10.0.0.4, 10.0.0.5)"));
  EXPECT_FALSE(Eval("gcp.callerIP in (10.0.0.4, \"10.0.0.6\")"));
  EXPECT_FALSE(Eval("gcp.callerIP in ()"));
  EXPECT_TRUE(Eval("gcp.callerIP intersects (10.0.0.5)"));
  EXPECT_FALSE(Eval("gcp.callerIP intersects (10.0.0.6)"));
  EXPECT_TRUE(Eval("gcp.resourceName pmatch (/x, /a/b)"));
  EXPECT_TRUE(Eval("gcp.resourceName pmatch (/a/b/c)"));
  EXPECT_FALSE(Eval("gcp.resourceName pmatch (/a/bc, /z)"));
}

TEST_F(ConditionTest, NamedListsExpandInsideAndAsOperand) {
  lists_["ips"] = {"10.0.0.5", "10.0.0.9"};
  EXPECT_TRUE(Eval("gcp.callerIP in (ips)"));
  EXPECT_TRUE(Eval("gcp.callerIP in ips"));
  EXPECT_TRUE(Eval("gcp.callerIP in (1.1.1.1, ips)"));
  // A quoted item is a literal, not a list name.
  EXPECT_FALSE(Eval("gcp.callerIP in (\"ips\")"));
}

TEST_F(ConditionTest, Exists) {
  EXPECT_TRUE(Eval("gcp.methodName exists"));
  EXPECT_FALSE(Eval("gcp.userAgent exists"));
  EXPECT_TRUE(Eval("not gcp.userAgent exists"));
}

TEST_F(ConditionTest, MissingFieldIsFalseForEveryOperator) {
  for (const char* cond :
       {"gcp.userAgent = x", "gcp.userAgent != x", "gcp.userAgent < x",
        "gcp.userAgent <= x", "gcp.userAgent > x", "gcp.userAgent >= x",
        "gcp.userAgent contains x", "gcp.userAgent icontains x",
        "gcp.userAgent bcontains 78", "gcp.userAgent startswith x",
        "gcp.userAgent bstartswith 78", "gcp.userAgent endswith x",
        "gcp.userAgent glob '*'", "gcp.userAgent iglob '*'",
        "gcp.userAgent regex '.*'", "gcp.userAgent in (x)",
        "gcp.userAgent intersects (x)", "gcp.userAgent pmatch (/)",
        "gcp.userAgent exists"}) {
    EXPECT_FALSE(Eval(cond)) << cond;
    EXPECT_TRUE(Eval(std::string("not ") + cond)) << cond;
  }
}

TEST_F(ConditionTest, PrecedenceNotAndOr) {
  // or binds loosest: true or (false and false)
  EXPECT_TRUE(
      Eval("gcp.projectId = 42 or gcp.projectId = 1 and gcp.projectId = 2"));
  // and before or: (false and true) or false
  EXPECT_FALSE(
      Eval("gcp.projectId = 1 and gcp.projectId = 42 or gcp.projectId = 2"));
  // Parentheses regroup: (true or false) and false
  EXPECT_FALSE(
      Eval("(gcp.projectId = 42 or gcp.projectId = 1) and gcp.projectId = 2"));
  // not binds tighter than and: (not false) and true
  EXPECT_TRUE(Eval("not gcp.projectId = 1 and gcp.projectId = 42"));
  // not binds tighter than or: (not true) or true
  EXPECT_TRUE(Eval("not gcp.projectId = 42 or gcp.projectId = 42"));
  EXPECT_FALSE(Eval("not (gcp.projectId = 42 or gcp.projectId = 42)"));
  EXPECT_TRUE(Eval("not not gcp.projectId = 42"));
}

TEST_F(ConditionTest, QuotingAndEscapes) {
  auto ast = ParseCondition(R"(gcp.user in ("a b", 'c,d', "say \"hi\"", e\f))");
  ASSERT_TRUE(ast.ok()) << ast.status();
  const AstNode& n = **ast;
  ASSERT_EQ(n.values.size(), 4u);
  EXPECT_EQ(n.values[0].text, "a b");
  EXPECT_FALSE(n.values[0].bare);
  EXPECT_EQ(n.values[1].text, "c,d");
  EXPECT_EQ(n.values[2].text, "say \"hi\"");
  EXPECT_EQ(n.values[3].text, "e\\f");
  EXPECT_TRUE(n.values[3].bare);
  EXPECT_TRUE(
      Eval("gcp.serviceName = \"compute.googleapis.com\" and "
           "gcp.methodName = 'v1.compute.instances.insert'"));
}

TEST_F(ConditionTest, MacrosAreInlined) {
  DefineMacro("is_compute", "gcp.serviceName = compute.googleapis.com");
  DefineMacro("is_insert", "is_compute and gcp.methodName endswith insert");
  EXPECT_TRUE(Eval("is_insert"));
  EXPECT_FALSE(Eval("not is_compute"));
  EXPECT_THAT(Compile("no_such_macro").status().message(),
              HasSubstr("\"no_such_macro\" is not a defined macro"));
}

TEST_F(ConditionTest, MacroCycleIsAnError) {
  DefineMacro("a", "b");
  DefineMacro("b", "a");
  EXPECT_THAT(Compile("a").status().message(), HasSubstr("refers to itself"));
}

TEST_F(ConditionTest, UnknownFieldIsACompileError) {
  auto c = Compile("gcp.userName = x");
  EXPECT_THAT(c.status().message(), HasSubstr("unknown field gcp.userName"));
  EXPECT_THAT(c.status().message(), HasSubstr("column 1"));
}

TEST_F(ConditionTest, JsonValueFieldInConditions) {
  EXPECT_TRUE(
      Eval("json.value[/protoPayload/requestMetadata/callerIp] = 10.0.0.5"));
  EXPECT_FALSE(Eval("json.value[/nope] exists"));
}

TEST_F(ConditionTest, SyntaxErrorsSayWhereAndWhatWasExpected) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"", "at column 1: expected a field, a macro, 'not' or '('"},
      {"gcp.user =", "at column 11: expected a value"},
      {"(gcp.user = x", "expected ')'"},
      {"gcp.user = x and", "at column 17: expected a field"},
      {"gcp.user = x y", "at column 14: expected 'and', 'or' or the end"},
      {"gcp.user in (a b)", "expected ',' or ')'"},
      {"gcp.user = \"abc", "expected a closing \""},
      {"json.value[/a] and x", "expected an operator"},
      {"gcp.user in", "expected a list"},
  };
  for (const Case& c : cases) {
    auto ast = ParseCondition(c.text);
    EXPECT_FALSE(ast.ok()) << c.text;
    EXPECT_THAT(ast.status().message(), HasSubstr(c.message)) << c.text;
  }
}

// Parsing, compiling and matching recurse once per level: nesting is bounded
// so that a condition cannot exhaust the stack (found by fuzzing: 50000 '('
// overflowed it).
TEST_F(ConditionTest, NestingIsBounded) {
  auto nested = [](int levels, absl::string_view open,
                   absl::string_view close) {
    std::string text;
    for (int i = 0; i < levels; ++i) absl::StrAppend(&text, open);
    absl::StrAppend(&text, "gcp.serviceName exists");
    for (int i = 0; i < levels; ++i) absl::StrAppend(&text, close);
    return text;
  };
  EXPECT_TRUE(Eval(nested(kMaxConditionDepth, "(", ")")));
  // An even number of `not`, and the comparison: as deep as compiling allows.
  EXPECT_TRUE(Eval(nested(kMaxConditionDepth - 2, "not ", "")));
  for (const std::string& text :
       {nested(kMaxConditionDepth + 1, "(", ")"), nested(50000, "(", ")"),
        nested(50000, "not ", "")}) {
    auto ast = ParseCondition(text);
    ASSERT_FALSE(ast.ok());
    EXPECT_THAT(ast.status().message(),
                HasSubstr("nested deeper than 500 levels"));
  }
}

// Macros are inlined: the expanded condition is bounded too, in depth (a
// chain of macros) and in size (each macro using the previous one twice
// doubles it; found by fuzzing: 25 of them exhausted memory).
TEST_F(ConditionTest, ExpandedMacrosAreBounded) {
  DefineMacro("chain0", "gcp.serviceName exists");
  for (int i = 1; i <= kMaxConditionDepth; ++i) {
    DefineMacro(absl::StrCat("chain", i), absl::StrCat("not chain", i - 1));
  }
  EXPECT_TRUE(Eval("chain10"));
  EXPECT_THAT(
      Compile(absl::StrCat("chain", kMaxConditionDepth)).status().message(),
      HasSubstr("nested deeper than 500 levels with its macros expanded"));

  DefineMacro("twice0", "gcp.serviceName exists");
  for (int i = 1; i <= 25; ++i) {
    DefineMacro(absl::StrCat("twice", i),
                absl::StrCat("twice", i - 1, " and twice", i - 1));
  }
  EXPECT_TRUE(Eval("twice10"));
  EXPECT_THAT(Compile("twice25").status().message(),
              HasSubstr("more than 100000 operators and comparisons"));
}

}  // namespace
}  // namespace corral::ingest::rules
