#ifndef CORRAL_INGEST_RULES_RULES_CLI_H_
#define CORRAL_INGEST_RULES_RULES_CLI_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace corral::ingest::rules {

// `corral rules ...`; `args` are the words after "rules":
//   test --rules FILE [FILE...] --input FILE|- [--all] [--hostname NAME]
//       Loads the rules files in order, reads one LogEntry JSON per line from
//       the input ("-" is `in`) and writes one Falco alert JSON line per
//       match to `out` (first matching rule only, or every one with --all).
//       A line that is not an audit LogEntry is reported on `err` as
//       "line N: ..." and skipped. Exit 0; 1 if a rules file fails to load
//       (every load error on `err`) or the input cannot be opened.
//   validate FILE [FILE...]
//       Loads the files in order; prints every load error on `err`; exit 1 on
//       any, else 0 ("ok: N rules" on `out`).
// Usage errors exit 2. Not thread-safe with respect to the streams.
int RunRulesCli(const std::vector<std::string>& args, std::istream& in,
                std::ostream& out, std::ostream& err);

}  // namespace corral::ingest::rules

#endif  // CORRAL_INGEST_RULES_RULES_CLI_H_
