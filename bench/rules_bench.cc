// Rule evaluation against parsing alone, in one run: how much the rules add to
// the cost of reading GCP audit LogEntries.
//
//   corral_rules_bench [--rounds N] RULES_FILE... -- ENTRY_FILE...
//
// Each entry file holds one LogEntry JSON per line. Reference: Boost.JSON
// parsing each entry (the project's JSON library) into an arena, as corral
// does. Measured: extracting the
// gcpaudit fields, evaluating the rules (rule_matching first, Falco's default,
// and all) and building an alert for each match. Prints entries/s and the
// cost ratios (parse-only rate / evaluation rate). Rates are per second of
// this thread's CPU time; each is the best of N interleaved rounds of at least
// 0.3 s each (default 7).
#include <time.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "ingest/gcpaudit/log_entry_fields.h"
#include "ingest/rules/rule_engine.h"
#include "ingest/rules/rules_loader.h"

namespace {

// This thread's CPU time in seconds: unlike the wall clock, it does not count
// the time other processes on a shared machine take the core away.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Runs `fn` over all entries until at least `min_seconds` of CPU time passed;
// entries per CPU-second.
template <typename Fn>
double EntriesPerSecond(const std::vector<std::string>& entries,
                        double min_seconds, Fn fn) {
  size_t done = 0;
  const double start = ThreadCpuSeconds();
  double elapsed = 0;
  do {
    for (const std::string& e : entries) fn(e);
    done += entries.size();
    elapsed = ThreadCpuSeconds() - start;
  } while (elapsed < min_seconds);
  return done / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> rule_files, entry_files;
  bool entries_part = false;
  int rounds = 7;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--rounds" && !entries_part && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--") {
      entries_part = true;
    } else {
      (entries_part ? entry_files : rule_files).push_back(arg);
    }
  }
  if (rule_files.empty() || entry_files.empty()) {
    std::cerr << "usage: corral_rules_bench [--rounds N] RULES_FILE... -- "
                 "ENTRY_FILE...\n";
    return 2;
  }
  corral::ingest::rules::LoadResult rules =
      corral::ingest::rules::LoadRulesFiles(rule_files);
  if (!rules.ok()) {
    for (const std::string& e : rules.errors) std::cerr << e << "\n";
    return 1;
  }
  std::vector<std::string> entries;
  for (const std::string& path : entry_files) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) entries.push_back(line);
    }
  }

  size_t sink = 0;  // keeps the work from being optimised away
  // The reference parses as LogEntryFields does: into one arena per entry,
  // so that the ratio shows what fields and rules add, not allocator cost.
  auto parse_only = [&](const std::string& e) {
    boost::json::monotonic_resource arena(e.size() * 2 + 1024);
    boost::json::parse_options options;
    options.max_depth = 512;
    boost::json::value v =
        boost::json::parse(e, boost::json::storage_ptr(&arena), options);
    sink += v.is_object();
  };
  auto fields_only = [&](const std::string& e) {
    sink += corral::ingest::gcpaudit::LogEntryFields::Parse(e).ok();
  };
  auto evaluate = [&](corral::ingest::rules::RuleMatching matching) {
    return [&, matching](const std::string& e) {
      auto fields = corral::ingest::gcpaudit::LogEntryFields::Parse(e);
      if (!fields.ok()) return;
      for (const auto* rule : rules.rules->Evaluate(*fields, matching)) {
        corral::core::Alert alert =
            corral::ingest::rules::BuildAlert(*rule, *fields, "bench");
        sink += !alert.rule.empty();
      }
    };
  };
  // Interleaved rounds, best of each: the machine is shared and noisy, and
  // the best rate is the one least disturbed.
  double parse = 0, fields = 0, first = 0, all = 0;
  for (int round = 0; round < rounds; ++round) {
    parse = std::max(parse, EntriesPerSecond(entries, 0.3, parse_only));
    fields = std::max(fields, EntriesPerSecond(entries, 0.3, fields_only));
    first = std::max(
        first, EntriesPerSecond(
                   entries, 0.3,
                   evaluate(corral::ingest::rules::RuleMatching::kFirst)));
    all = std::max(
        all,
        EntriesPerSecond(entries, 0.3,
                         evaluate(corral::ingest::rules::RuleMatching::kAll)));
  }
  std::cout << "entries=" << entries.size()
            << " rules=" << rules.rules->rules().size()
            << " parse_only_per_s=" << static_cast<long>(parse)
            << " fields_only_per_s=" << static_cast<long>(fields)
            << " evaluate_first_per_s=" << static_cast<long>(first)
            << " evaluate_all_per_s=" << static_cast<long>(all)
            << " cost_ratio_first=" << parse / first
            << " cost_ratio_all=" << parse / all << " sink=" << sink % 2
            << "\n";
  return 0;
}
