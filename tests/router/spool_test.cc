#include "router/spool.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "core/file_util.h"
#include "core/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "router/spool_format.h"
#include "tests/fakes/fake_clock.h"

namespace corral::router {
namespace {

namespace fs = std::filesystem;

using fakes::FakeClock;
using ::testing::HasSubstr;

// A fresh directory per test (and per call).
std::string NewDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  const std::string dir = absl::StrCat(
      ::testing::TempDir(), "/spool_",
      ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_", tag,
      "_", getpid(), "_", counter++);
  fs::remove_all(dir);
  return dir;
}

// Every alert of the same `fields_bytes` encodes to the same size (numbers are
// zero-padded), so tests can size segments in records.
core::Alert MakeAlert(int i, size_t fields_bytes = 0) {
  const std::string n = absl::StrFormat("%06d", i);
  core::Alert a;
  a.uuid = absl::StrCat("uuid-", n);
  a.time = absl::FromUnixNanos(1764496800000000000LL + i * 1000003LL);
  a.priority = static_cast<core::Priority>(1 + i % 8);
  a.rule = absl::StrCat("rule ", n);
  a.output = absl::StrCat("output \xE2\x9C\x93 ", n);
  a.source = i % 2 ? "syscall" : "k8s_aud";
  a.hostname = absl::StrCat("host-", i % 3);
  a.tags = {"t1", absl::StrCat("t", n)};
  a.output_fields_json =
      absl::StrCat(R"({"n":)", n, R"(,"pad":")", std::string(fields_bytes, 'p'),
                   R"(","z":null})");
  return a;
}

void ExpectSameAlert(const core::Alert& want, const core::Alert& got) {
  EXPECT_EQ(want.uuid, got.uuid);
  EXPECT_EQ(want.time, got.time);
  EXPECT_EQ(want.priority, got.priority);
  EXPECT_EQ(want.rule, got.rule);
  EXPECT_EQ(want.output, got.output);
  EXPECT_EQ(want.source, got.source);
  EXPECT_EQ(want.hostname, got.hostname);
  EXPECT_EQ(want.tags, got.tags);
  EXPECT_EQ(want.output_fields_json, got.output_fields_json);
}

absl::StatusOr<uint64_t> AppendSync(Spool& spool, core::Alert alert) {
  absl::Notification done;
  absl::StatusOr<uint64_t> result;
  spool.Append(std::move(alert), [&](absl::StatusOr<uint64_t> seq) {
    result = std::move(seq);
    done.Notify();
  });
  // Bounded: a lost callback fails the test instead of hanging it.
  if (!done.WaitForNotificationWithTimeout(absl::Seconds(30))) {
    return absl::DeadlineExceededError("durable callback never ran");
  }
  return result;
}

std::vector<core::Alert> ReadAll(const Spool& spool, uint64_t after = 0) {
  std::vector<core::Alert> out;
  absl::Status s = spool.ReadFrom(after, [&](core::Alert a) {
    out.push_back(std::move(a));
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

std::vector<uint64_t> Seqs(const std::vector<core::Alert>& alerts) {
  std::vector<uint64_t> seqs;
  for (const auto& a : alerts) seqs.push_back(a.seq);
  return seqs;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> v;
  for (uint64_t s = first; s <= last; ++s) v.push_back(s);
  return v;
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class SpoolTest : public ::testing::Test {
 protected:
  // Without preallocation, which moves the writer to a new segment whenever
  // a prepared file is ready: these tests count segments and bytes per file.
  // Preallocation has tests of its own (SpoolPreallocationTest).
  SpoolOptions Options(const std::string& dir) {
    SpoolOptions o;
    o.dir = dir;
    o.preallocate = false;
    return o;
  }
  std::unique_ptr<Spool> OpenOrDie(SpoolOptions options,
                                   core::MetricsRegistry* metrics = nullptr) {
    absl::StatusOr<std::unique_ptr<Spool>> spool =
        Spool::Open(std::move(options), metrics, &clock_);
    EXPECT_TRUE(spool.ok()) << spool.status();
    return spool.ok() ? *std::move(spool) : nullptr;
  }
  FakeClock clock_;
};

TEST_F(SpoolTest, AppendAndReadBackEveryField) {
  const std::string dir = NewDir("a");
  auto spool = OpenOrDie(Options(dir));
  ASSERT_NE(spool, nullptr);
  for (int i = 1; i <= 20; ++i) {
    core::Alert a = MakeAlert(i);
    a.seq = 999;  // overwritten by the spool
    absl::StatusOr<uint64_t> seq = AppendSync(*spool, a);
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_EQ(*seq, static_cast<uint64_t>(i));
  }
  EXPECT_EQ(spool->last_seq(), 20u);
  EXPECT_EQ(spool->durable_seq(), 20u);

  std::vector<core::Alert> all = ReadAll(*spool);
  ASSERT_EQ(all.size(), 20u);
  for (int i = 1; i <= 20; ++i) {
    EXPECT_EQ(all[i - 1].seq, static_cast<uint64_t>(i));
    ExpectSameAlert(MakeAlert(i), all[i - 1]);
  }
  EXPECT_EQ(Seqs(ReadAll(*spool, 15)), Range(16, 20));
  EXPECT_TRUE(ReadAll(*spool, 20).empty());

  // The callback can stop the read.
  int calls = 0;
  ASSERT_TRUE(
      spool->ReadFrom(0, [&](core::Alert) { return ++calls < 3; }).ok());
  EXPECT_EQ(calls, 3);

  // And it all survives a reopen.
  spool.reset();
  spool = OpenOrDie(Options(dir));
  all = ReadAll(*spool);
  ASSERT_EQ(all.size(), 20u);
  ExpectSameAlert(MakeAlert(7), all[6]);
}

TEST_F(SpoolTest, KeepsTheTimeEachAlertWasAccepted) {
  const std::string dir = NewDir("a");
  const absl::Time first = clock_.Now();
  {
    auto spool = OpenOrDie(Options(dir));
    core::Alert alert = MakeAlert(1);
    alert.accepted = absl::UnixEpoch();  // not the spool's to take
    ASSERT_TRUE(AppendSync(*spool, alert).ok());
    clock_.Advance(absl::Hours(3));
    ASSERT_TRUE(AppendSync(*spool, MakeAlert(2)).ok());
  }
  auto spool = OpenOrDie(Options(dir));
  std::vector<core::Alert> all = ReadAll(*spool);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].accepted, first);
  EXPECT_EQ(all[1].accepted, first + absl::Hours(3));
}

TEST_F(SpoolTest, SeqIsMonotonicAcrossReopen) {
  const std::string dir = NewDir("a");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 600;  // a few records per segment
  o.retain = absl::ZeroDuration();
  {
    auto spool = OpenOrDie(o);
    for (int i = 1; i <= 5; ++i)
      ASSERT_TRUE(AppendSync(*spool, MakeAlert(i)).ok());
  }
  {
    auto spool = OpenOrDie(o);
    EXPECT_EQ(spool->last_seq(), 5u);
    EXPECT_EQ(*AppendSync(*spool, MakeAlert(6)), 6u);
    for (int i = 7; i <= 12; ++i)
      ASSERT_TRUE(AppendSync(*spool, MakeAlert(i)).ok());
    // Every output past everything: only the active segment remains.
    ASSERT_TRUE(spool->SetOutputs({"out"}).ok());
    ASSERT_TRUE(spool->MarkProgress("out", 12, {}).ok());
    ASSERT_TRUE(spool->Compact().ok());
  }
  {
    // Even with the old records deleted, seqs continue.
    auto spool = OpenOrDie(o);
    EXPECT_EQ(spool->last_seq(), 12u);
    EXPECT_EQ(*AppendSync(*spool, MakeAlert(13)), 13u);
  }
}

TEST_F(SpoolTest, SecondOpenOfTheSameDirIsRefused) {
  const std::string dir = NewDir("a");
  auto spool = OpenOrDie(Options(dir));
  absl::StatusOr<std::unique_ptr<Spool>> second =
      Spool::Open(Options(dir), nullptr, &clock_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
}

// Holds the writer inside its first write until released, so that appends
// made meanwhile pile up and must be covered by the next write's one fsync.
struct WriterGate {
  absl::Notification entered, release;
  std::atomic<bool> first{true};
  std::function<absl::Status(uint64_t)> Hook() {
    return [this](uint64_t) {
      if (first.exchange(false)) {
        entered.Notify();
        release.WaitForNotificationWithTimeout(absl::Seconds(30));
      }
      return absl::OkStatus();
    };
  }
};

// Appends 1 record, waits until the writer is inside it, appends `n` more
// from 8 threads, releases the writer, and waits for every callback.
std::vector<uint64_t> GatedConcurrentAppends(Spool& spool, WriterGate& gate,
                                             int n) {
  absl::Mutex mu;
  std::vector<uint64_t> seqs;
  absl::BlockingCounter done(n + 1);
  auto record = [&](absl::StatusOr<uint64_t> seq) {
    EXPECT_TRUE(seq.ok()) << seq.status();
    if (seq.ok()) {
      absl::MutexLock lock(&mu);
      seqs.push_back(*seq);
    }
    done.DecrementCount();
  };
  spool.Append(MakeAlert(0), record);
  EXPECT_TRUE(gate.entered.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < n; i += 8) spool.Append(MakeAlert(i), record);
    });
  }
  for (auto& t : threads) t.join();
  gate.release.Notify();
  done.Wait();
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

TEST_F(SpoolTest, GroupCommitCoversConcurrentAppendsWithOneFsync) {
  core::MetricsRegistry metrics;
  WriterGate gate;
  SpoolOptions o = Options(NewDir("a"));
  o.write_fault = gate.Hook();
  auto spool = OpenOrDie(o, &metrics);
  const int n = 200;
  EXPECT_EQ(GatedConcurrentAppends(*spool, gate, n), Range(1, n + 1));
  const SpoolStats stats = spool->stats();
  EXPECT_EQ(stats.records, static_cast<uint64_t>(n + 1));
  EXPECT_EQ(stats.fsynced_records, static_cast<uint64_t>(n + 1));
  // The first record alone, then all the others in one write and one fsync.
  EXPECT_EQ(stats.fsyncs, 2u);
  EXPECT_NE(metrics.Render().find("corral_spool_records_per_fsync_bucket{le="
                                  "\"256\"} 2"),
            std::string::npos)
      << metrics.Render();
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, n + 1));
}

TEST_F(SpoolTest, FsyncAlwaysSyncsEveryRecord) {
  WriterGate gate;
  SpoolOptions o = Options(NewDir("a"));
  o.fsync = FsyncMode::kAlways;
  o.write_fault = gate.Hook();
  auto spool = OpenOrDie(o);
  EXPECT_EQ(GatedConcurrentAppends(*spool, gate, 50), Range(1, 51));
  EXPECT_EQ(spool->stats().fsyncs, 51u);
  EXPECT_EQ(spool->stats().records, 51u);
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 51));
}

TEST_F(SpoolTest, FsyncNeverLeavesItToTheOs) {
  WriterGate gate;
  SpoolOptions o = Options(NewDir("a"));
  o.fsync = FsyncMode::kNever;
  o.write_fault = gate.Hook();
  auto spool = OpenOrDie(o);
  EXPECT_EQ(GatedConcurrentAppends(*spool, gate, 50), Range(1, 51));
  EXPECT_EQ(spool->stats().fsyncs, 0u);
  EXPECT_EQ(spool->stats().records, 51u);
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 51));
}

TEST_F(SpoolTest, ParsesFsyncModesFromConfig) {
  core::SpoolConfig config;
  config.dir = "/x";
  config.fsync = "always";
  config.max_bytes = 1234;
  config.retain = absl::Minutes(5);
  absl::StatusOr<SpoolOptions> o = SpoolOptions::FromConfig(config);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->fsync, FsyncMode::kAlways);
  EXPECT_EQ(o->max_bytes, 1234u);
  EXPECT_EQ(o->retain, absl::Minutes(5));
  EXPECT_EQ(*ParseFsyncMode("batch"), FsyncMode::kBatch);
  EXPECT_EQ(*ParseFsyncMode("never"), FsyncMode::kNever);
  EXPECT_FALSE(ParseFsyncMode("sometimes").ok());
}

TEST_F(SpoolTest, RollsSegmentsAtTheSizeBound) {
  const std::string dir = NewDir("a");
  SpoolOptions o = Options(dir);
  const size_t record = spool_format::FramedSize(
      spool_format::EncodeAlertPayload(MakeAlert(10, 100)).size());
  o.segment_bytes = 3 * record + record / 2;  // room for exactly 3
  auto spool = OpenOrDie(o);
  for (int i = 10; i < 20; ++i)
    ASSERT_TRUE(AppendSync(*spool, MakeAlert(i, 100)).ok());
  // 10 records, 3 per segment.
  EXPECT_EQ(spool->segments(), 4u);
  std::vector<std::string> files = SegmentFiles(dir);
  ASSERT_EQ(files.size(), 4u);
  uint64_t total = 0;
  for (const auto& f : files) {
    EXPECT_LE(fs::file_size(f), o.segment_bytes) << f;
    total += fs::file_size(f);
  }
  EXPECT_EQ(total, 10 * record);
  EXPECT_EQ(spool->bytes(), total);
  EXPECT_EQ(fs::path(files[1]).filename(), "00000000000000000004.seg");
  // A record larger than a segment gets one of its own.
  ASSERT_TRUE(AppendSync(*spool, MakeAlert(20, 2 * o.segment_bytes)).ok());
  EXPECT_EQ(spool->segments(), 5u);
  ASSERT_TRUE(AppendSync(*spool, MakeAlert(21, 100)).ok());
  EXPECT_EQ(spool->segments(), 6u);

  std::vector<core::Alert> all = ReadAll(*spool);
  EXPECT_EQ(Seqs(all), Range(1, 12));
  ExpectSameAlert(MakeAlert(20, 2 * o.segment_bytes), all[10]);
  // Reading from the middle starts in the right segment.
  EXPECT_EQ(Seqs(ReadAll(*spool, 5)), Range(6, 12));
  spool.reset();
  spool = OpenOrDie(o);
  EXPECT_EQ(Seqs(ReadAll(*spool, 3)), Range(4, 12));
}

// Segments are read a window at a time: records that straddle windows, and
// records larger than a window, come back whole and in order, when reading
// and when recovering at open.
TEST_F(SpoolTest, ReadsSegmentsLargerThanTheReadWindow) {
  const std::string dir = NewDir("a");
  SpoolOptions o = Options(dir);
  o.segment_bytes = 8 << 20;
  auto spool = OpenOrDie(o);
  std::vector<core::Alert> want;
  // About 3 MiB of 7,001-byte fields (no window edge falls on a record's),
  // then one 3 MiB alert (three windows) and a few more after it.
  for (int i = 0; i < 450; ++i) want.push_back(MakeAlert(i, 7001));
  want.push_back(MakeAlert(450, 3 << 20));
  for (int i = 451; i < 460; ++i) want.push_back(MakeAlert(i, 7001));
  for (const core::Alert& a : want) ASSERT_TRUE(AppendSync(*spool, a).ok());
  ASSERT_EQ(spool->segments(), 1u);

  auto expect_all = [&](const Spool& s) {
    std::vector<core::Alert> got = ReadAll(s);
    ASSERT_EQ(Seqs(got), Range(1, want.size()));
    for (size_t i = 0; i < want.size(); ++i) ExpectSameAlert(want[i], got[i]);
    EXPECT_EQ(Seqs(ReadAll(s, 449)), Range(450, want.size()));
  };
  expect_all(*spool);
  spool.reset();
  spool = OpenOrDie(o);
  expect_all(*spool);
  EXPECT_EQ(*AppendSync(*spool, MakeAlert(460)), want.size() + 1);
}

// Reads the spool `chunk` records at a time with one cursor, to the end.
std::vector<core::Alert> ReadInChunks(const Spool& spool, size_t chunk,
                                      SpoolCursor* cursor) {
  std::vector<core::Alert> out;
  while (true) {
    size_t got = 0;
    absl::Status s = spool.Read(cursor, [&](core::Alert a) {
      out.push_back(std::move(a));
      return ++got < chunk;
    });
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok() || got < chunk) return out;
  }
}

std::vector<core::Alert> ReadToEnd(const Spool& spool, SpoolCursor* cursor) {
  return ReadInChunks(spool, SIZE_MAX, cursor);
}

TEST_F(SpoolTest, ChunkedReadsWithACursorReturnWhatOneReadFromDoes) {
  const std::string dir = NewDir("a");
  SpoolOptions o = Options(dir);
  o.segment_bytes = (5 << 20) / 2;  // 2.5 MiB: several segments
  auto spool = OpenOrDie(o);
  // Windows and segments end inside records; one 3 MiB record spans windows
  // and gets a segment of its own.
  for (int i = 0; i < 700; ++i) {
    ASSERT_TRUE(AppendSync(*spool, MakeAlert(i, 7001)).ok());
  }
  ASSERT_TRUE(AppendSync(*spool, MakeAlert(700, 3 << 20)).ok());
  for (int i = 701; i < 760; ++i) {
    ASSERT_TRUE(AppendSync(*spool, MakeAlert(i, 7001)).ok());
  }
  ASSERT_GE(spool->segments(), 4u);
  const std::vector<core::Alert> whole = ReadAll(*spool);
  ASSERT_EQ(Seqs(whole), Range(1, 760));
  for (size_t chunk : {1, 7, 250, 1000}) {
    SCOPED_TRACE(absl::StrCat("chunk ", chunk));
    SpoolCursor cursor;
    std::vector<core::Alert> chunked = ReadInChunks(*spool, chunk, &cursor);
    ASSERT_EQ(Seqs(chunked), Seqs(whole));
    for (size_t i = 0; i < whole.size(); ++i) {
      ExpectSameAlert(whole[i], chunked[i]);
    }
    EXPECT_EQ(cursor.after_seq, 760u);
  }
  // Starting after a seq, like ReadFrom.
  SpoolCursor after_500{.after_seq = 500};
  EXPECT_EQ(Seqs(ReadInChunks(*spool, 33, &after_500)), Range(501, 760));
}

TEST_F(SpoolTest, ACursorGoesOnWhereItStoppedWithoutScanningAgain) {
  const std::string dir = NewDir("a");
  auto spool = OpenOrDie(Options(dir));
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(AppendSync(*spool, MakeAlert(i)).ok());
  }
  SpoolCursor cursor;
  std::vector<uint64_t> seen;
  ASSERT_TRUE(spool
                  ->Read(&cursor,
                         [&](core::Alert a) {
                           seen.push_back(a.seq);
                           return a.seq < 5;
                         })
                  .ok());
  EXPECT_EQ(seen, Range(1, 5));
  EXPECT_EQ(cursor.after_seq, 5u);
  // Plant a valid record with a later seq where record 1 was, behind the
  // cursor: a read that scanned the segment from its start would find it.
  const std::string file = SegmentFiles(dir)[0];
  std::string planted = spool_format::EncodeAlertPayload(MakeAlert(1));
  spool_format::SetPayloadSeq(&planted, 1000);
  std::string framed;
  spool_format::AppendFramedRecord(&framed, planted);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.write(framed.data(), static_cast<std::streamsize>(framed.size()));
  }
  // ReadFrom scans from the start
  EXPECT_EQ(Seqs(ReadAll(*spool, 5)).front(), 1000u);
  EXPECT_EQ(Seqs(ReadToEnd(*spool, &cursor)), Range(6, 10));
  EXPECT_EQ(cursor.after_seq, 10u);
  // At the end it waits for what comes next.
  ASSERT_TRUE(AppendSync(*spool, MakeAlert(11)).ok());
  EXPECT_EQ(Seqs(ReadToEnd(*spool, &cursor)), Range(11, 11));
}

TEST_F(SpoolTest, TornTailIsTruncatedAtEveryOffsetOfTheLastRecord) {
  const std::string pristine = NewDir("pristine");
  {
    auto spool = OpenOrDie(Options(pristine));
    for (int i = 1; i <= 4; ++i)
      ASSERT_TRUE(AppendSync(*spool, MakeAlert(i)).ok());
  }
  std::vector<std::string> files = SegmentFiles(pristine);
  ASSERT_EQ(files.size(), 1u);
  const std::string name = fs::path(files[0]).filename();
  const std::string full = *core::ReadFileToString(files[0]);
  const size_t last_record = spool_format::FramedSize(
      spool_format::EncodeAlertPayload(MakeAlert(4)).size());
  const size_t start = full.size() - last_record;

  for (size_t cut = start; cut < full.size(); ++cut) {
    SCOPED_TRACE(absl::StrCat("cut at ", cut));
    const std::string dir = NewDir("cut");
    fs::create_directories(dir);
    std::ofstream(dir + "/" + name, std::ios::binary) << full.substr(0, cut);
    core::MetricsRegistry metrics;
    auto spool = OpenOrDie(Options(dir), &metrics);
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spool->stats().truncated_tails, cut > start ? 1u : 0u);
    EXPECT_EQ(spool->stats().corrupt_records, 0u);
    EXPECT_EQ(fs::file_size(dir + "/" + name), start);
    std::vector<core::Alert> all = ReadAll(*spool);
    ASSERT_EQ(Seqs(all), Range(1, 3));
    ExpectSameAlert(MakeAlert(3), all[2]);
    // Appending continues right after the last good record.
    ASSERT_EQ(*AppendSync(*spool, MakeAlert(40)), 4u);
    spool.reset();
    spool = OpenOrDie(Options(dir));
    all = ReadAll(*spool);
    ASSERT_EQ(Seqs(all), Range(1, 4));
    ExpectSameAlert(MakeAlert(40), all[3]);
    EXPECT_EQ(spool->stats().truncated_tails, 0u);
    spool.reset();
    fs::remove_all(dir);
  }
}

TEST_F(SpoolTest, DamageInTheMiddleSkipsOnlyTheDamagedRecord) {
  const std::string pristine = NewDir("pristine");
  const int n = 8;
  {
    auto spool = OpenOrDie(Options(pristine));
    for (int i = 1; i <= n; ++i)
      ASSERT_TRUE(AppendSync(*spool, MakeAlert(i)).ok());
  }
  const std::string file = SegmentFiles(pristine)[0];
  const std::string name = fs::path(file).filename();
  const std::string full = *core::ReadFileToString(file);
  // Record boundaries.
  std::vector<size_t> starts;
  spool_format::ScanRecords(
      full, [&](uint64_t off, absl::string_view) { starts.push_back(off); },
      [](uint64_t, uint64_t) {});
  ASSERT_EQ(starts.size(), static_cast<size_t>(n));

  // Every byte of records 3..6 (header and payload), in turn.
  for (size_t offset = starts[2]; offset < starts[6]; ++offset) {
    SCOPED_TRACE(absl::StrCat("byte ", offset));
    const int damaged = static_cast<int>(
        std::upper_bound(starts.begin(), starts.end(), offset) -
        starts.begin());
    std::string bytes = full;
    bytes[offset] ^= 0x5A;
    const std::string dir = NewDir("flip");
    fs::create_directories(dir);
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
    core::MetricsRegistry metrics;
    auto spool = OpenOrDie(Options(dir), &metrics);
    ASSERT_NE(spool, nullptr);
    EXPECT_EQ(spool->stats().corrupt_records, 1u);
    EXPECT_EQ(spool->stats().truncated_tails, 0u);
    std::vector<uint64_t> want;
    for (int s = 1; s <= n; ++s) {
      if (s != damaged) want.push_back(s);
    }
    std::vector<core::Alert> all = ReadAll(*spool);
    ASSERT_EQ(Seqs(all), want);
    for (const auto& a : all) ExpectSameAlert(MakeAlert(a.seq), a);
    ASSERT_EQ(*AppendSync(*spool, MakeAlert(n + 1)),
              static_cast<uint64_t>(n + 1));
    spool.reset();
    fs::remove_all(dir);
  }
}

TEST_F(SpoolTest, DamagedTailOfASealedSegmentIsSkippedNotTruncated) {
  const std::string dir = NewDir("a");
  SpoolOptions o = Options(dir);
  const size_t record = spool_format::FramedSize(
      spool_format::EncodeAlertPayload(MakeAlert(1)).size());
  o.segment_bytes = 2 * record;
  {
    auto spool = OpenOrDie(o);
    for (int i = 1; i <= 5; ++i)
      ASSERT_TRUE(AppendSync(*spool, MakeAlert(i)).ok());
  }
  std::vector<std::string> files = SegmentFiles(dir);
  ASSERT_EQ(files.size(), 3u);
  // Damage the last record of the first (sealed) segment.
  {
    std::string bytes = *core::ReadFileToString(files[0]);
    bytes[bytes.size() - 3] ^= 0x01;
    std::ofstream(files[0], std::ios::binary | std::ios::trunc) << bytes;
  }
  auto spool = OpenOrDie(o);
  EXPECT_EQ(spool->stats().corrupt_records, 1u);
  EXPECT_EQ(spool->stats().truncated_tails, 0u);
  EXPECT_EQ(fs::file_size(files[0]), 2 * record);
  EXPECT_EQ(Seqs(ReadAll(*spool)), (std::vector<uint64_t>{1, 3, 4, 5}));
  EXPECT_EQ(*AppendSync(*spool, MakeAlert(6)), 6u);
}

TEST_F(SpoolTest, ProgressPersistsAndReplayIsExactlyTheUnfinished) {
  const std::string dir = NewDir("a");
  {
    auto spool = OpenOrDie(Options(dir));
    ASSERT_TRUE(spool->SetOutputs({"slack", "web/../hook"}).ok());
    EXPECT_EQ(spool->LoadProgress("slack")->low_watermark, 0u);
    for (int i = 1; i <= 10; ++i)
      ASSERT_TRUE(AppendSync(*spool, MakeAlert(i)).ok());
    // Seqs at or below the watermark in finished_above are dropped.
    ASSERT_TRUE(spool->MarkProgress("slack", 3, {2, 5, 7}).ok());
    ASSERT_TRUE(spool->MarkProgress("web/../hook", 9, {}).ok());
    EXPECT_EQ(spool->MarkProgress("nobody", 1, {}).code(),
              absl::StatusCode::kNotFound);
    EXPECT_FALSE(spool->LoadProgress("nobody").has_value());
  }
  auto spool = OpenOrDie(Options(dir));
  std::optional<OutputProgress> p = spool->LoadProgress("slack");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->low_watermark, 3u);
  EXPECT_EQ(p->finished_above, (std::set<uint64_t>{5, 7}));
  EXPECT_EQ(spool->outputs(),
            (std::vector<std::string>{"slack", "web/../hook"}));

  // The records an output has not finished.
  auto replay = [&](absl::string_view output) {
    std::optional<OutputProgress> progress = spool->LoadProgress(output);
    std::vector<uint64_t> seqs;
    for (uint64_t seq : Seqs(ReadAll(*spool, progress->low_watermark))) {
      if (!progress->finished_above.contains(seq)) seqs.push_back(seq);
    }
    return seqs;
  };
  EXPECT_EQ(replay("slack"), (std::vector<uint64_t>{4, 6, 8, 9, 10}));
  EXPECT_EQ(replay("web/../hook"), (std::vector<uint64_t>{10}));
  EXPECT_EQ(spool->stats().replayed, 8u);  // every record read: 4..10, 10

  // A new output starts at the head: it replays nothing that came before.
  ASSERT_TRUE(spool->SetOutputs({"slack", "web/../hook", "new"}).ok());
  EXPECT_EQ(spool->LoadProgress("new")->low_watermark, 10u);
  EXPECT_TRUE(replay("new").empty());
  ASSERT_TRUE(AppendSync(*spool, MakeAlert(11)).ok());
  EXPECT_EQ(replay("new"), (std::vector<uint64_t>{11}));
  // The progress files stay inside the progress directory.
  for (const auto& e : fs::directory_iterator(dir + "/progress")) {
    EXPECT_EQ(e.path().extension(), ".progress") << e.path();
  }
}

TEST_F(SpoolTest, DamagedProgressFileReplaysEverythingRetained) {
  const std::string dir = NewDir("a");
  {
    auto spool = OpenOrDie(Options(dir));
    ASSERT_TRUE(spool->SetOutputs({"out"}).ok());
    for (int i = 1; i <= 3; ++i)
      ASSERT_TRUE(AppendSync(*spool, MakeAlert(i)).ok());
    ASSERT_TRUE(spool->MarkProgress("out", 2, {}).ok());
  }
  const std::string path = dir + "/progress/out.progress";
  std::string bytes = *core::ReadFileToString(path);
  bytes[10] ^= 0x40;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  auto spool = OpenOrDie(Options(dir));
  EXPECT_EQ(spool->stats().corrupt_records, 1u);
  ASSERT_TRUE(spool->LoadProgress("out").has_value());
  EXPECT_EQ(spool->LoadProgress("out")->low_watermark, 0u);
  // Nothing is lost: the damaged progress never lets seqs be reused either.
  EXPECT_EQ(*AppendSync(*spool, MakeAlert(4)), 4u);
}

// Five segments of two records each (the last one active).
class SpoolRetentionTest : public SpoolTest {
 protected:
  void SetUp() override {
    dir_ = NewDir("r");
    options_ = Options(dir_);
    record_ = spool_format::FramedSize(
        spool_format::EncodeAlertPayload(MakeAlert(1)).size());
    options_.segment_bytes = 2 * record_;
    options_.retain = absl::Hours(1);
    spool_ = OpenOrDie(options_);
    ASSERT_TRUE(spool_->SetOutputs({"a", "b"}).ok());
    for (int i = 1; i <= 10; ++i) {
      ASSERT_TRUE(AppendSync(*spool_, MakeAlert(i)).ok());
    }
    ASSERT_EQ(spool_->segments(), 5u);
  }
  std::string dir_;
  SpoolOptions options_;
  size_t record_ = 0;
  std::unique_ptr<Spool> spool_;
};

TEST_F(SpoolRetentionTest, SegmentsGoOnceEveryOutputIsPastAndRetainPassed) {
  EXPECT_EQ(*spool_->Compact(), 0);
  ASSERT_TRUE(spool_->MarkProgress("a", 10, {}).ok());
  ASSERT_TRUE(spool_->MarkProgress("b", 5, {6, 7, 8}).ok());
  // b holds segment [5, 6] (5 is finished but 6 not by watermark).
  EXPECT_EQ(*spool_->Compact(), 0);  // retain not passed
  clock_.Advance(absl::Minutes(59));
  EXPECT_EQ(*spool_->Compact(), 0);
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(*spool_->Compact(), 2);  // [1,2] and [3,4]
  EXPECT_EQ(spool_->segments(), 3u);
  EXPECT_EQ(SegmentFiles(dir_).size(), 3u);
  EXPECT_EQ(spool_->bytes(), 6 * record_);
  EXPECT_EQ(Seqs(ReadAll(*spool_)), Range(5, 10));
  EXPECT_EQ(Seqs(ReadAll(*spool_, 2)), Range(5, 10));

  // Everything finished: all sealed segments go, never the active one.
  ASSERT_TRUE(spool_->MarkProgress("b", 10, {}).ok());
  EXPECT_EQ(*spool_->Compact(), 2);
  EXPECT_EQ(spool_->segments(), 1u);
  EXPECT_EQ(Seqs(ReadAll(*spool_)), Range(9, 10));

  // The result survives a reopen.
  spool_.reset();
  spool_ = OpenOrDie(options_);
  EXPECT_EQ(Seqs(ReadAll(*spool_)), Range(9, 10));
  EXPECT_EQ(spool_->last_seq(), 10u);
}

TEST_F(SpoolRetentionTest, RemovedOutputNoLongerHoldsSegments) {
  ASSERT_TRUE(spool_->MarkProgress("a", 10, {}).ok());
  clock_.Advance(absl::Hours(2));
  EXPECT_EQ(*spool_->Compact(), 0);  // b holds them all
  ASSERT_TRUE(spool_->SetOutputs({"a"}).ok());
  EXPECT_FALSE(spool_->LoadProgress("b").has_value());
  EXPECT_FALSE(fs::exists(dir_ + "/progress/b.progress"));
  EXPECT_TRUE(fs::exists(dir_ + "/progress/a.progress"));
  EXPECT_EQ(*spool_->Compact(), 4);
  EXPECT_EQ(spool_->segments(), 1u);
  // Re-adding it makes it a new output: it starts at the head.
  ASSERT_TRUE(spool_->SetOutputs({"a", "b"}).ok());
  EXPECT_EQ(spool_->LoadProgress("b")->low_watermark, 10u);
  // A forgotten output stays forgotten across a reopen.
  ASSERT_TRUE(spool_->SetOutputs({"b"}).ok());
  spool_.reset();
  spool_ = OpenOrDie(options_);
  EXPECT_EQ(spool_->outputs(), std::vector<std::string>{"b"});
}

TEST_F(SpoolRetentionTest, SegmentRemovedDuringAReadEndsItWithOutOfRange) {
  ASSERT_TRUE(spool_->MarkProgress("a", 10, {}).ok());
  ASSERT_TRUE(spool_->MarkProgress("b", 10, {}).ok());
  std::vector<uint64_t> seen;
  const absl::Status read = spool_->ReadFrom(0, [&](core::Alert alert) {
    seen.push_back(alert.seq);
    // While the first segment is being read, retention removes the sealed
    // ones, the segment being read among them.
    if (alert.seq == 1) {
      clock_.Advance(absl::Hours(2));
      EXPECT_EQ(*spool_->Compact(), 4);
    }
    return true;
  });
  EXPECT_TRUE(absl::IsOutOfRange(read)) << read;
  EXPECT_THAT(read.message(), HasSubstr("removed by retention"));
  // What was handed out has no gap: the read stopped instead of skipping.
  EXPECT_EQ(seen, Range(1, 2));
  EXPECT_EQ(Seqs(ReadAll(*spool_)), Range(9, 10));
}

TEST_F(SpoolRetentionTest, ACursorInARemovedSegmentIsOutOfRange) {
  // Cursors stopped at 3 (inside segment [3, 4]) and 4 (at its end).
  auto stopped_at = [&](uint64_t seq) {
    SpoolCursor cursor;
    EXPECT_TRUE(
        spool_->Read(&cursor, [&](core::Alert a) { return a.seq < seq; }).ok());
    EXPECT_EQ(cursor.after_seq, seq);
    return cursor;
  };
  SpoolCursor inside = stopped_at(3);
  SpoolCursor at_end = stopped_at(4);
  ASSERT_TRUE(spool_->MarkProgress("a", 10, {}).ok());
  ASSERT_TRUE(spool_->MarkProgress("b", 4, {}).ok());
  clock_.Advance(absl::Hours(2));
  EXPECT_EQ(*spool_->Compact(), 2);  // [1, 2] and [3, 4]
  // Seq 4 went with its segment: never skipped in silence.
  const absl::Status gone = spool_->Read(&inside, [](core::Alert) {
    ADD_FAILURE() << "read past a removed record";
    return true;
  });
  EXPECT_TRUE(absl::IsOutOfRange(gone)) << gone;
  EXPECT_THAT(gone.message(), HasSubstr("removed by retention"));
  // Nothing after the other cursor was removed: it goes on.
  EXPECT_EQ(Seqs(ReadToEnd(*spool_, &at_end)), Range(5, 10));
}

TEST_F(SpoolTest, FullRefusesNewAppendsAndResumesWhenSpaceFrees) {
  const std::string dir = NewDir("a");
  SpoolOptions o = Options(dir);
  const size_t record = spool_format::FramedSize(
      spool_format::EncodeAlertPayload(MakeAlert(1)).size());
  o.segment_bytes = 2 * record;
  o.max_bytes = 6 * record;
  o.retain = absl::Minutes(1);
  core::MetricsRegistry metrics;
  auto spool = OpenOrDie(o, &metrics);
  ASSERT_TRUE(spool->SetOutputs({"out"}).ok());
  for (int i = 1; i <= 6; ++i)
    ASSERT_TRUE(AppendSync(*spool, MakeAlert(i)).ok());
  absl::StatusOr<uint64_t> refused = AppendSync(*spool, MakeAlert(7));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(spool->last_seq(), 6u);  // the refusal took no seq
  EXPECT_NE(
      metrics.Render().find("corral_spool_refused_total{reason=\"full\"} 1"),
      std::string::npos);
  EXPECT_NE(
      metrics.Render().find("corral_spool_bytes " + absl::StrCat(6 * record)),
      std::string::npos)
      << metrics.Render();
  // Nothing accepted was dropped.
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 6));

  // Delivered and past retention: compaction frees space, appends resume.
  ASSERT_TRUE(spool->MarkProgress("out", 4, {}).ok());
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(*spool->Compact(), 2);
  // Four records' worth was freed.
  for (int i = 7; i <= 10; ++i) {
    EXPECT_EQ(*AppendSync(*spool, MakeAlert(i)), static_cast<uint64_t>(i));
  }
  EXPECT_EQ(AppendSync(*spool, MakeAlert(11)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(5, 10));
}

TEST_F(SpoolTest, DiskRefusingAWriteRefusesAppendsUntilRetry) {
  const std::string dir = NewDir("a");
  SpoolOptions o = Options(dir);
  o.write_retry_after = absl::Seconds(5);
  std::atomic<bool> failed{false};
  o.write_fault = [&](uint64_t first_seq) {
    if (first_seq == 3 && !failed.exchange(true)) {
      return absl::ResourceExhaustedError("No space left on device");
    }
    return absl::OkStatus();
  };
  auto spool = OpenOrDie(o);
  ASSERT_TRUE(AppendSync(*spool, MakeAlert(1)).ok());
  ASSERT_TRUE(AppendSync(*spool, MakeAlert(2)).ok());
  EXPECT_EQ(AppendSync(*spool, MakeAlert(3)).status().code(),
            absl::StatusCode::kResourceExhausted);
  // Paused: refused at once, without trying the disk.
  EXPECT_EQ(AppendSync(*spool, MakeAlert(3)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(spool->last_seq(), 2u);
  clock_.Advance(absl::Seconds(5));
  // Resumed, and the refused seq is handed out again: no gap.
  EXPECT_EQ(*AppendSync(*spool, MakeAlert(3)), 3u);
  std::vector<core::Alert> all = ReadAll(*spool);
  ASSERT_EQ(Seqs(all), Range(1, 3));
  ExpectSameAlert(MakeAlert(3), all[2]);
  spool.reset();
  spool = OpenOrDie(Options(dir));
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 3));
}

TEST_F(SpoolTest, CloseMakesEveryAcceptedAppendDurable) {
  const std::string dir = NewDir("a");
  std::atomic<int> ok{0};
  {
    auto spool = OpenOrDie(Options(dir));
    for (int i = 1; i <= 300; ++i) {
      spool->Append(MakeAlert(i), [&](absl::StatusOr<uint64_t> seq) {
        if (seq.ok()) ++ok;
      });
    }
  }  // the destructor waits for every callback
  EXPECT_EQ(ok.load(), 300);
  auto spool = OpenOrDie(Options(dir));
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 300));
}

// Preallocated segments: records land in zero-filled files, which a roll cuts
// to their records and recovery does not mistake for damage.
class SpoolPreallocationTest : public SpoolTest {
 protected:
  void SetUp() override {
    record_ = spool_format::FramedSize(
        spool_format::EncodeAlertPayload(MakeAlert(1)).size());
    options_ = Options(NewDir("p"));
    options_.preallocate = true;
    options_.segment_bytes = 6 * record_;
  }
  // Appends MakeAlert(1), (2), ... one at a time until the active segment is
  // a zero-filled file (the preparer runs on its own thread) that holds a
  // record, after at least `min_segments` segments. Bounded: fails after 10 s.
  void AppendUntilPreallocated(Spool& spool, size_t min_segments) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      ASSERT_TRUE(AppendSync(spool, MakeAlert(++appended_)).ok());
      const std::vector<std::string> files = SegmentFiles(options_.dir);
      const uint64_t active = ActiveRecordBytes(spool);
      if (files.size() >= min_segments && active > 0 &&
          active < options_.segment_bytes &&
          fs::file_size(files.back()) == options_.segment_bytes) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    FAIL() << "the active segment was never a preallocated file";
  }
  // Bytes of records in the active (last) segment: sealed files hold only
  // records.
  uint64_t ActiveRecordBytes(const Spool& spool) const {
    const std::vector<std::string> files = SegmentFiles(options_.dir);
    uint64_t sealed = 0;
    for (size_t k = 0; k + 1 < files.size(); ++k) {
      sealed += fs::file_size(files[k]);
    }
    return spool.bytes() - sealed;
  }

  size_t record_ = 0;
  SpoolOptions options_;
  int appended_ = 0;
};

TEST_F(SpoolPreallocationTest, RecordsGoIntoZeroFilledSegmentsCutAtTheRoll) {
  auto spool = OpenOrDie(options_);
  AppendUntilPreallocated(*spool, 3);
  const std::vector<std::string> files = SegmentFiles(options_.dir);
  // Every sealed segment is cut to its records, whole ones.
  for (size_t k = 0; k + 1 < files.size(); ++k) {
    EXPECT_GT(fs::file_size(files[k]), 0u) << files[k];
    EXPECT_EQ(fs::file_size(files[k]) % record_, 0u) << files[k];
    EXPECT_LE(fs::file_size(files[k]), options_.segment_bytes) << files[k];
  }
  const uint64_t active = ActiveRecordBytes(*spool);
  EXPECT_LT(active, options_.segment_bytes);
  // Past the records, the active file holds only zeros.
  const std::string data = *core::ReadFileToString(files.back());
  ASSERT_EQ(data.size(), options_.segment_bytes);
  EXPECT_EQ(data.find_first_not_of('\0', active), std::string::npos);
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, appended_));
  EXPECT_EQ(spool->stats().records, static_cast<uint64_t>(appended_));
}

TEST_F(SpoolPreallocationTest, ReopenWritesOnAfterTheLastRecordNotAtTheEnd) {
  auto spool = OpenOrDie(options_);
  AppendUntilPreallocated(*spool, 2);
  const int n = appended_;
  spool.reset();
  // Stand-in for a crash: the unused zeros are still there.
  const std::string active = SegmentFiles(options_.dir).back();
  ASSERT_EQ(fs::file_size(active), options_.segment_bytes);

  core::MetricsRegistry metrics;
  spool = OpenOrDie(options_, &metrics);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->stats().truncated_tails, 0u);
  EXPECT_EQ(spool->stats().corrupt_records, 0u);
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, n));
  EXPECT_EQ(*AppendSync(*spool, MakeAlert(1000)), static_cast<uint64_t>(n + 1));
  spool.reset();
  spool = OpenOrDie(options_);
  std::vector<core::Alert> all = ReadAll(*spool);
  ASSERT_EQ(Seqs(all), Range(1, n + 1));
  ExpectSameAlert(MakeAlert(1000), all.back());
  EXPECT_EQ(spool->stats().truncated_tails, 0u);
}

TEST_F(SpoolPreallocationTest, ATornRecordInThePreallocatedTailIsTruncated) {
  auto spool = OpenOrDie(options_);
  AppendUntilPreallocated(*spool, 2);
  const int n = appended_;
  const uint64_t records = ActiveRecordBytes(*spool);
  spool.reset();
  // Half of a record written after the last one, zeros after it.
  const std::string active = SegmentFiles(options_.dir).back();
  {
    std::string torn;
    spool_format::AppendFramedRecord(
        &torn, spool_format::EncodeAlertPayload(MakeAlert(n + 1)));
    std::fstream f(active, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(records));
    f.write(torn.data(), static_cast<std::streamsize>(torn.size() / 2));
  }
  spool = OpenOrDie(options_);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->stats().truncated_tails, 1u);
  EXPECT_EQ(spool->stats().corrupt_records, 0u);
  EXPECT_EQ(fs::file_size(active), records);
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, n));
  EXPECT_EQ(*AppendSync(*spool, MakeAlert(n + 1)),
            static_cast<uint64_t>(n + 1));
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, n + 1));
}

TEST_F(SpoolPreallocationTest,
       ZerosAfterASealedSegmentAreCutNotCountedAsDamage) {
  auto spool = OpenOrDie(options_);
  AppendUntilPreallocated(*spool, 3);
  const int n = appended_;
  spool.reset();
  // A crash before a roll's cut of the sealed file reached the disk.
  const std::string sealed = SegmentFiles(options_.dir).front();
  const uint64_t size = fs::file_size(sealed);
  fs::resize_file(sealed, options_.segment_bytes);
  spool = OpenOrDie(options_);
  ASSERT_NE(spool, nullptr);
  EXPECT_EQ(spool->stats().corrupt_records, 0u);
  EXPECT_EQ(spool->stats().truncated_tails, 0u);
  EXPECT_EQ(fs::file_size(sealed), size);
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, n));
}

TEST_F(SpoolPreallocationTest, FsyncNeverWritesPlainFiles) {
  options_.fsync = FsyncMode::kNever;
  auto spool = OpenOrDie(options_);
  for (int i = 1; i <= 20; ++i)
    ASSERT_TRUE(AppendSync(*spool, MakeAlert(i)).ok());
  uint64_t total = 0;
  for (const std::string& f : SegmentFiles(options_.dir)) {
    total += fs::file_size(f);
  }
  EXPECT_EQ(total, spool->bytes());
  EXPECT_EQ(total, 20 * record_);
  // Nothing but segments, progress and the lock in the directory.
  for (const auto& e : fs::directory_iterator(options_.dir)) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(e.path().extension() == ".seg" || name == "progress" ||
                name == "LOCK")
        << name;
  }
}

}  // namespace
}  // namespace corral::router
