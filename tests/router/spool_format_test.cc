#include "router/spool_format.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace corral::router::spool_format {
namespace {

core::Alert FullAlert() {
  core::Alert a;
  a.uuid = "0b5c7c2e-6a1f-4d7e-9a51-3f1e2d4c5b6a";
  a.seq = 0x0102030405060708ULL;
  a.time = absl::FromUnixNanos(1764496800123456789LL);
  a.priority = core::Priority::kCritical;
  a.rule = "Terminal shell in container";
  a.output = "A shell was spawned \xE2\x9C\x93 (user=root)";
  a.source = "syscall";
  a.hostname = "node-1";
  a.tags = {"container", "", "mitre_execution"};
  a.output_fields_json = R"({"proc.pid":42,"user.name":"root","x":null})";
  a.accepted = absl::FromUnixNanos(1764496801987654321LL);
  return a;
}

void ExpectSameAlert(const core::Alert& a, const core::Alert& b) {
  EXPECT_EQ(a.uuid, b.uuid);
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.time, b.time);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.rule, b.rule);
  EXPECT_EQ(a.output, b.output);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.hostname, b.hostname);
  EXPECT_EQ(a.tags, b.tags);
  EXPECT_EQ(a.output_fields_json, b.output_fields_json);
  EXPECT_EQ(a.accepted, b.accepted);
}

TEST(SpoolFormatTest, PayloadRoundTripsEveryField) {
  const core::Alert a = FullAlert();
  absl::StatusOr<core::Alert> b = DecodeAlertPayload(EncodeAlertPayload(a));
  ASSERT_TRUE(b.ok()) << b.status();
  ExpectSameAlert(a, *b);

  core::Alert empty;  // defaults: epoch time, no strings, no tags
  b = DecodeAlertPayload(EncodeAlertPayload(empty));
  ASSERT_TRUE(b.ok()) << b.status();
  ExpectSameAlert(empty, *b);
}

TEST(SpoolFormatTest, SetPayloadSeqPatchesOnlyTheSeq) {
  core::Alert a = FullAlert();
  std::string payload = EncodeAlertPayload(a);
  SetPayloadSeq(&payload, 77);
  absl::StatusOr<core::Alert> b = DecodeAlertPayload(payload);
  ASSERT_TRUE(b.ok());
  a.seq = 77;
  ExpectSameAlert(a, *b);
}

TEST(SpoolFormatTest, SetPayloadAcceptedPatchesOnlyTheAcceptedTime) {
  core::Alert a = FullAlert();
  std::string payload = EncodeAlertPayload(a);
  a.accepted = absl::FromUnixSeconds(1764500000);
  SetPayloadAccepted(&payload, a.accepted);
  absl::StatusOr<core::Alert> b = DecodeAlertPayload(payload);
  ASSERT_TRUE(b.ok());
  ExpectSameAlert(a, *b);
}

// Records written before the accepted time was kept decode without one.
TEST(SpoolFormatTest, AVersion1PayloadHasNoAcceptedTime) {
  core::Alert a = FullAlert();
  std::string payload = EncodeAlertPayload(a);
  payload.erase(kPayloadAcceptedOffset, 8);
  payload[0] = 1;
  absl::StatusOr<core::Alert> b = DecodeAlertPayload(payload);
  ASSERT_TRUE(b.ok()) << b.status();
  a.accepted = absl::InfinitePast();
  ExpectSameAlert(a, *b);
}

TEST(SpoolFormatTest, TruncatedOrExtendedPayloadIsAnErrorNotACrash) {
  const std::string payload = EncodeAlertPayload(FullAlert());
  for (size_t n = 0; n < payload.size(); ++n) {
    EXPECT_FALSE(DecodeAlertPayload(payload.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeAlertPayload(payload + "x").ok());
  std::string bad_version = payload;
  bad_version[0] = 3;
  EXPECT_FALSE(DecodeAlertPayload(bad_version).ok());
}

TEST(SpoolFormatTest, ScanFindsRecordsAndSkipsDamage) {
  std::string data;
  std::vector<size_t> starts;
  for (int i = 0; i < 3; ++i) {
    starts.push_back(data.size());
    AppendFramedRecord(&data, std::string(10 + i, static_cast<char>('a' + i)));
  }
  std::vector<std::string> seen;
  auto collect = [&](uint64_t, absl::string_view p) {
    seen.emplace_back(p.data(), p.size());
  };
  ScanResult r = ScanRecords(data, collect, [](uint64_t, uint64_t) {});
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(r.good_end, data.size());
  EXPECT_EQ(r.corrupt_regions, 0);

  // Damage in the middle record: skipped, reported with its exact extent.
  std::string damaged = data;
  damaged[starts[1] + 13] ^= 0x01;
  seen.clear();
  uint64_t from = 0, to = 0;
  r = ScanRecords(damaged, collect, [&](uint64_t f, uint64_t t) {
    from = f;
    to = t;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{std::string(10, 'a'),
                                            std::string(12, 'c')}));
  EXPECT_EQ(r.corrupt_regions, 1);
  EXPECT_EQ(from, starts[1]);
  EXPECT_EQ(to, starts[2]);

  // A torn last record is a tail, not a corrupt region.
  seen.clear();
  r = ScanRecords(absl::string_view(data).substr(0, data.size() - 1), collect,
                  [](uint64_t, uint64_t) {});
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(r.good_end, starts[2]);
  EXPECT_EQ(r.corrupt_regions, 0);
}

// What a scan reports, as text, so that scans can be compared whole.
struct ScanLog {
  std::vector<std::string> events;
  ScanResult Scan(absl::string_view data, uint64_t base, bool more_follows) {
    return ScanRecords(
        data,
        [&](uint64_t offset, absl::string_view p) {
          events.push_back(absl::StrCat("record@", base + offset, ":", p));
        },
        [&](uint64_t from, uint64_t to) {
          events.push_back(
              absl::StrCat("damage@", base + from, "-", base + to));
        },
        more_follows);
  }
};

// Scanning a prefix with more_follows, then the rest from resume_at, reports
// exactly what one scan of the whole does, wherever the split falls.
void ExpectPiecewiseScanMatchesWhole(const std::string& data) {
  ScanLog whole;
  const ScanResult w = whole.Scan(data, 0, /*more_follows=*/false);
  for (size_t split = 0; split <= data.size(); ++split) {
    ScanLog pieces;
    const ScanResult first =
        pieces.Scan(absl::string_view(data).substr(0, split), 0, true);
    ASSERT_LE(first.resume_at, split);
    const ScanResult rest =
        pieces.Scan(absl::string_view(data).substr(first.resume_at),
                    first.resume_at, false);
    EXPECT_EQ(pieces.events, whole.events) << "split at " << split;
    const uint64_t good_end =
        rest.good_end > 0 ? first.resume_at + rest.good_end : first.good_end;
    EXPECT_EQ(good_end, w.good_end) << "split at " << split;
    EXPECT_EQ(first.corrupt_regions + rest.corrupt_regions, w.corrupt_regions);
  }
}

TEST(SpoolFormatTest, ScanningInPiecesFindsWhatOneScanFinds) {
  std::string clean;
  for (int i = 0; i < 4; ++i) {
    AppendFramedRecord(&clean, std::string(20 + i, static_cast<char>('a' + i)));
  }
  ExpectPiecewiseScanMatchesWhole(clean);

  std::string damaged = clean;
  damaged[kRecordHeaderBytes + 20 + 5] ^= 0x40;  // the second record's header
  ExpectPiecewiseScanMatchesWhole(damaged);

  std::string torn = clean.substr(0, clean.size() - 3);
  ExpectPiecewiseScanMatchesWhole(torn);

  // A payload that holds a whole framed record (alert text is anyone's): a
  // piece that ends inside the outer record must not surface the inner one.
  std::string inner;
  AppendFramedRecord(&inner, "forged");
  std::string nested;
  AppendFramedRecord(&nested, "x" + inner + "y");
  AppendFramedRecord(&nested, "after");
  ExpectPiecewiseScanMatchesWhole(nested);
}

TEST(SpoolFormatTest, ProgressRoundTripAndDamageDetected) {
  ProgressData p{41, {43, 50, 1ULL << 40}};
  const std::string data = EncodeProgress(p);
  absl::StatusOr<ProgressData> q = DecodeProgress(data);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->low_watermark, 41u);
  EXPECT_EQ(q->finished_above, p.finished_above);
  for (size_t i = 0; i < data.size(); ++i) {
    std::string bad = data;
    bad[i] ^= 0x20;
    EXPECT_FALSE(DecodeProgress(bad).ok()) << "byte " << i;
    EXPECT_FALSE(DecodeProgress(data.substr(0, i)).ok()) << "length " << i;
  }
}

TEST(SpoolFormatTest, OutputNamesEscapeToSafeFileNames) {
  for (const std::string& name : std::vector<std::string>{
           "slack", "audit-hook_2", "../etc/passwd", "a b/c%d", ".", "..",
           std::string("nul\0x", 5), "\xFF\xFE"}) {
    const std::string escaped = EscapeOutputName(name);
    EXPECT_EQ(escaped.find('/'), std::string::npos) << escaped;
    EXPECT_EQ(escaped.find('.'), std::string::npos) << escaped;
    absl::StatusOr<std::string> back = UnescapeOutputName(escaped);
    ASSERT_TRUE(back.ok()) << escaped;
    EXPECT_EQ(*back, name);
  }
  EXPECT_EQ(EscapeOutputName("a/b"), "a%2Fb");
  EXPECT_FALSE(UnescapeOutputName("a%2").ok());
  EXPECT_FALSE(UnescapeOutputName("a%zz").ok());
  EXPECT_FALSE(UnescapeOutputName("a.b").ok());
}

}  // namespace
}  // namespace corral::router::spool_format
