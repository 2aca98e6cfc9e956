#include "router/spool.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "core/file_util.h"
#include "core/log.h"
#include "router/spool_format.h"

namespace corral::router {
namespace {

namespace fmt = spool_format;

constexpr absl::string_view kSegmentSuffix = ".seg";
constexpr absl::string_view kProgressSuffix = ".progress";
constexpr absl::string_view kTempSuffix = ".tmp";
// A zero-filled file waiting to become the next segment (not a segment name:
// recovery ignores it and Open deletes a leftover).
constexpr absl::string_view kPreparedName = "next-segment.zeros";
constexpr size_t kSegmentDigits = 20;

std::string SegmentPath(const std::string& dir, uint64_t base_seq) {
  return absl::StrFormat("%s/%020u%s", dir, base_seq, kSegmentSuffix);
}

// The base seq of a segment file name, or nullopt for any other file.
std::optional<uint64_t> ParseSegmentName(absl::string_view name) {
  if (!absl::ConsumeSuffix(&name, kSegmentSuffix) ||
      name.size() != kSegmentDigits) {
    return std::nullopt;
  }
  uint64_t base;
  if (!std::all_of(name.begin(), name.end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(name, &base)) {
    return std::nullopt;
  }
  return base;
}

absl::Status ErrnoStatus(absl::string_view what, const std::string& path) {
  return absl::ErrnoToStatus(errno, absl::StrCat(what, " ", path));
}

absl::Status FsyncFd(int fd, const std::string& path) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return ErrnoStatus("cannot fsync", path);
  }
  return absl::OkStatus();
}

// Reads `want` bytes at `offset` of the file into `out`; fewer only where
// the file ends. Returns how many.
absl::StatusOr<size_t> ReadAt(int fd, const std::string& path, char* out,
                              size_t want, uint64_t offset) {
  size_t got = 0;
  while (got < want) {
    const ssize_t n =
        ::pread(fd, out + got, want - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot read", path);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

// Bytes read from a segment file at a time: reading a segment never holds
// more than this plus one record, however large the segment.
constexpr size_t kScanWindowBytes = 1 << 20;

struct SegmentScan {
  fmt::ScanResult scan;  // offsets in the file
  uint64_t bytes = 0;    // bytes scanned: the file's size, or `limit`
};

// Scans the bytes [start, limit) of a segment file (up to its end when it is
// shorter; `start` must be a record boundary) piece by piece, with what
// fmt::ScanRecords would report for them as a whole. `on_record` returns false
// to stop early. NotFound when the file is gone.
absl::StatusOr<SegmentScan> ScanSegmentFile(
    const std::string& path, uint64_t start, uint64_t limit,
    absl::FunctionRef<bool(uint64_t offset, absl::string_view payload)>
        on_record,
    absl::FunctionRef<void(uint64_t from, uint64_t to)> on_corrupt) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path);
  SegmentScan result;
  std::string window;     // the file's bytes from `base` on, not yet scanned
  uint64_t base = start;  // file offset of window[0]
  uint64_t end = start;   // file offset just past what was read
  size_t read_size = kScanWindowBytes;
  bool stopped = false;
  while (!stopped) {
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(read_size, limit - end));
    const size_t kept = window.size();
    window.resize(kept + want);
    absl::StatusOr<size_t> read =
        ReadAt(fd, path, window.data() + kept, want, end);
    if (!read.ok()) {
      ::close(fd);
      return read.status();
    }
    const size_t got = *read;
    window.resize(kept + got);
    end += got;
    const bool at_end = got < want || end == limit;
    const fmt::ScanResult scan = fmt::ScanRecords(
        window,
        [&](uint64_t offset, absl::string_view payload) {
          if (!stopped && !on_record(base + offset, payload)) stopped = true;
        },
        [&](uint64_t from, uint64_t to) { on_corrupt(base + from, base + to); },
        /*more_follows=*/!at_end);
    if (scan.good_end > 0) result.scan.good_end = base + scan.good_end;
    result.scan.corrupt_regions += scan.corrupt_regions;
    if (at_end) break;
    // Keep what is not scanned yet; a record larger than the window makes
    // the next read larger, so that each pass gets further.
    read_size = scan.resume_at == 0 ? read_size * 2 : kScanWindowBytes;
    window.erase(0, scan.resume_at);
    base += scan.resume_at;
  }
  ::close(fd);
  result.bytes = end;
  return result;
}

// Whether the bytes [from, to) of a file are all zero.
absl::StatusOr<bool> IsZeroFilled(const std::string& path, uint64_t from,
                                  uint64_t to) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path);
  std::string chunk(kScanWindowBytes, '\0');
  bool zeros = true;
  while (zeros && from < to) {
    absl::StatusOr<size_t> n = ReadAt(
        fd, path, chunk.data(),
        static_cast<size_t>(std::min<uint64_t>(chunk.size(), to - from)), from);
    if (!n.ok()) {
      ::close(fd);
      return n.status();
    }
    if (*n == 0) break;
    zeros = std::all_of(chunk.begin(), chunk.begin() + *n,
                        [](char c) { return c == 0; });
    from += *n;
  }
  ::close(fd);
  return zeros;
}

uint64_t PayloadSeq(absl::string_view payload) {
  uint64_t seq = 0;
  if (payload.size() < fmt::kPayloadSeqOffset + 8) return 0;
  for (int i = 0; i < 8; ++i) {
    seq |= static_cast<uint64_t>(
               static_cast<unsigned char>(payload[fmt::kPayloadSeqOffset + i]))
           << (8 * i);
  }
  return seq;
}

}  // namespace

absl::StatusOr<FsyncMode> ParseFsyncMode(absl::string_view name) {
  if (name == "batch") return FsyncMode::kBatch;
  if (name == "always") return FsyncMode::kAlways;
  if (name == "never") return FsyncMode::kNever;
  return absl::InvalidArgumentError(absl::StrCat(
      "spool.fsync: \"", name, "\" is not one of batch, always, never"));
}

absl::StatusOr<SpoolOptions> SpoolOptions::FromConfig(
    const core::SpoolConfig& config) {
  absl::StatusOr<FsyncMode> mode = ParseFsyncMode(config.fsync);
  if (!mode.ok()) return mode.status();
  SpoolOptions options;
  options.dir = config.dir;
  options.fsync = *mode;
  options.max_bytes = config.max_bytes;
  options.retain = config.retain;
  // Space comes back a sealed segment at a time and the active segment is
  // never deleted: keep segments small against max_bytes, or a full spool
  // could never free room.
  options.segment_bytes =
      std::clamp<uint64_t>(config.max_bytes / 8, 4096, options.segment_bytes);
  return options;
}

Spool::Spool(SpoolOptions options, core::MetricsRegistry* metrics,
             core::Clock* clock)
    : options_(std::move(options)), clock_(clock) {
  if (metrics == nullptr) {
    own_metrics_ = std::make_unique<core::MetricsRegistry>();
    metrics = own_metrics_.get();
  }
  m_.bytes = metrics
                 ->AddGauge("corral_spool_bytes",
                            "Bytes in the spool's segment files.", {})
                 ->With({});
  m_.segments =
      metrics
          ->AddGauge("corral_spool_segments", "Segment files in the spool.", {})
          ->With({});
  m_.fsyncs = metrics
                  ->AddCounter("corral_spool_fsyncs_total",
                               "fsyncs of spool segments.", {})
                  ->With({});
  m_.records_per_fsync =
      metrics
          ->AddHistogram("corral_spool_records_per_fsync",
                         "Records made durable by one fsync (group commit).",
                         {}, {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})
          ->With({});
  m_.records = metrics
                   ->AddCounter("corral_spool_records_total",
                                "Alerts made durable in the spool.", {})
                   ->With({});
  m_.corrupt =
      metrics
          ->AddCounter("corral_spool_corrupt_records_total",
                       "Damaged spool records (or progress files) skipped at "
                       "recovery.",
                       {})
          ->With({});
  m_.truncated =
      metrics
          ->AddCounter("corral_spool_truncated_tails_total",
                       "Torn segment tails truncated at recovery.", {})
          ->With({});
  m_.replayed = metrics
                    ->AddCounter("corral_spool_replayed_alerts_total",
                                 "Alerts read back from the spool.", {})
                    ->With({});
  auto* refused = metrics->AddCounter("corral_spool_refused_total",
                                      "Appends the spool refused.", {"reason"});
  m_.refused_full = refused->With({"full"});
  m_.refused_disk = refused->With({"disk"});
  m_.refused_stopped = refused->With({"stopped"});
}

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(
    SpoolOptions options, core::MetricsRegistry* metrics, core::Clock* clock) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("spool.dir is empty");
  }
  if (options.segment_bytes == 0) {
    return absl::InvalidArgumentError("spool segment size is 0");
  }
  std::unique_ptr<Spool> spool(new Spool(std::move(options), metrics, clock));
  if (absl::Status s = spool->Recover(); !s.ok()) return s;
  // Named, so that per-thread CPU (top -H, perf) tells them apart.
  spool->writer_ = std::thread([s = spool.get()] { s->WriterLoop(); });
  pthread_setname_np(spool->writer_.native_handle(), "spool:writer");
  if (spool->Preallocating()) {
    spool->preparer_ = std::thread([s = spool.get()] { s->PreparerLoop(); });
    pthread_setname_np(spool->preparer_.native_handle(), "spool:prepare");
  }
  return spool;
}

Spool::~Spool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
  if (preparer_.joinable()) {
    preparer_.join();
    ::unlink(PreparedPath().c_str());  // an unused one is remade at Open
  }
  if (active_fd_ >= 0) ::close(active_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

absl::Status Spool::SyncDir(const std::string& dir) const {
  if (options_.fsync == FsyncMode::kNever) return absl::OkStatus();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", dir);
  absl::Status s;
  while (::fsync(fd) != 0) {
    if (errno != EINTR) {
      s = ErrnoStatus("cannot fsync", dir);
      break;
    }
  }
  ::close(fd);
  return s;
}

std::string Spool::PreparedPath() const {
  return absl::StrCat(options_.dir, "/", kPreparedName);
}

std::string Spool::ProgressPath(absl::string_view output) const {
  return absl::StrCat(options_.dir, "/progress/", fmt::EscapeOutputName(output),
                      kProgressSuffix);
}

absl::Status Spool::Recover() {
  const std::string& dir = options_.dir;
  std::error_code ec;
  std::filesystem::create_directories(dir + "/progress", ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create spool dir ", dir, ": ", ec.message()));
  }
  // One process per spool dir: two writers would interleave segments.
  const std::string lock_path = dir + "/LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return ErrnoStatus("cannot open", lock_path);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("spool dir ", dir, " is in use by another process"));
  }
  if (absl::Status s = LoadAllProgress(); !s.ok()) return s;
  // A prepared file may have been cut short by a crash: make a new one.
  ::unlink(PreparedPath().c_str());

  std::vector<uint64_t> bases;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (auto base = ParseSegmentName(entry.path().filename().string())) {
      bases.push_back(*base);
    }
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot list spool dir ", dir, ": ", ec.message()));
  }
  std::sort(bases.begin(), bases.end());

  absl::MutexLock lock(&mu_);
  uint64_t max_seq = 0;
  for (size_t i = 0; i < bases.size(); ++i) {
    const bool last = i + 1 == bases.size();
    const std::string path = SegmentPath(dir, bases[i]);
    absl::StatusOr<SegmentScan> scanned = ScanSegmentFile(
        path, 0, std::numeric_limits<uint64_t>::max(),
        [&](uint64_t, absl::string_view payload) {
          max_seq = std::max(max_seq, PayloadSeq(payload));
          return true;
        },
        [&](uint64_t from, uint64_t to) {
          m_.corrupt->Inc();
          core::LogError("spool: skipped damaged records",
                         {{"segment", path},
                          {"offset", absl::StrCat(from)},
                          {"bytes", absl::StrCat(to - from)}});
        });
    if (!scanned.ok()) return scanned.status();
    const uint64_t good_end = scanned->scan.good_end;
    uint64_t size = scanned->bytes;
    bool zero_tail = false;
    if (good_end < size) {
      absl::StatusOr<bool> zeros = IsZeroFilled(path, good_end, size);
      if (!zeros.ok()) return zeros.status();
      zero_tail = *zeros;
    }
    if (zero_tail) {
      // Preallocated space no record reached: unused, not damage. The last
      // segment goes on writing into it; a sealed one is cut to its records
      // (a crash came before its cut at the roll was on disk).
      if (last) {
        active_preallocated_ = true;
      } else if (::truncate(path.c_str(), static_cast<off_t>(good_end)) != 0) {
        core::LogWarn("spool: cannot cut a sealed segment to its records",
                      {{"segment", path}, {"error", std::strerror(errno)}});
      }
      size = good_end;
    } else if (good_end < size) {
      const std::string offset = absl::StrCat(good_end);
      const std::string bytes = absl::StrCat(size - good_end);
      if (last) {
        // A torn write (crash during append) or damage at the end: nothing
        // valid follows, so cut it off and append after the last good record.
        if (::truncate(path.c_str(), static_cast<off_t>(good_end)) != 0) {
          return ErrnoStatus("cannot truncate", path);
        }
        size = good_end;
        m_.truncated->Inc();
        core::LogWarn(
            "spool: truncated torn tail",
            {{"segment", path}, {"offset", offset}, {"bytes", bytes}});
      } else {
        // A sealed segment is never written again; keep its bytes and skip
        // them when reading.
        m_.corrupt->Inc();
        core::LogError(
            "spool: skipped damaged tail of sealed segment",
            {{"segment", path}, {"offset", offset}, {"bytes", bytes}});
      }
    }
    absl::Time sealed_at = absl::InfiniteFuture();
    if (!last) {
      struct stat st;
      sealed_at = ::stat(path.c_str(), &st) == 0
                      ? absl::TimeFromTimespec(st.st_mtim)
                      : clock_->Now();
    }
    segments_.push_back(Segment{bases[i], path, size, sealed_at});
    bytes_ += size;
  }

  // Seqs never go back: not below a recorded record, the active segment's
  // name, or what an output already reported finished.
  next_seq_ = max_seq + 1;
  if (!segments_.empty()) {
    next_seq_ = std::max(next_seq_, segments_.back().base_seq);
  }
  for (const auto& [name, progress] : progress_) {
    uint64_t top = progress.low_watermark;
    if (!progress.finished_above.empty()) {
      top = std::max(top, *progress.finished_above.rbegin());
    }
    next_seq_ = std::max(next_seq_, top + 1);
  }
  durable_seq_ = next_seq_ - 1;

  if (segments_.empty()) {
    const std::string path = SegmentPath(dir, next_seq_);
    active_fd_ =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (active_fd_ < 0) return ErrnoStatus("cannot create", path);
    if (absl::Status s = SyncDir(dir); !s.ok()) return s;
    segments_.push_back(Segment{next_seq_, path, 0, absl::InfiniteFuture()});
    active_written_ = 0;
  } else {
    const std::string& path = segments_.back().path;
    active_fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (active_fd_ < 0) return ErrnoStatus("cannot open", path);
    active_written_ = segments_.back().size;
  }
  UpdateGauges();
  UpdateWantPrepared();
  return absl::OkStatus();
}

absl::Status Spool::LoadAllProgress() {
  const std::string dir = options_.dir + "/progress";
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    files.push_back(entry.path().filename().string());
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot list ", dir, ": ", ec.message()));
  }
  absl::MutexLock lock(&mu_);
  for (const std::string& file : files) {
    const std::string path = absl::StrCat(dir, "/", file);
    absl::string_view stem = file;
    if (absl::EndsWith(stem, kTempSuffix)) {
      ::unlink(path.c_str());  // an interrupted MarkProgress
      continue;
    }
    if (!absl::ConsumeSuffix(&stem, kProgressSuffix)) continue;
    absl::StatusOr<std::string> name = fmt::UnescapeOutputName(stem);
    if (!name.ok() || name->empty()) continue;
    OutputProgress& progress = progress_[*name];
    absl::StatusOr<std::string> data = core::ReadFileToString(path);
    absl::StatusOr<fmt::ProgressData> decoded =
        data.ok() ? fmt::DecodeProgress(*data)
                  : absl::StatusOr<fmt::ProgressData>(data.status());
    if (!decoded.ok()) {
      // Replaying everything retained is at-least-once; trusting garbage could
      // skip alerts.
      m_.corrupt->Inc();
      core::LogError(
          "spool: damaged progress file, output replays from the "
          "oldest retained alert",
          {{"output", *name}, {"error", decoded.status().message()}});
      continue;
    }
    progress.low_watermark = decoded->low_watermark;
    progress.finished_above = std::move(decoded->finished_above);
  }
  return absl::OkStatus();
}

void Spool::UpdateGauges() {
  m_.bytes->Set(static_cast<double>(bytes_));
  m_.segments->Set(static_cast<double>(segments_.size()));
}

void Spool::Append(const core::Alert& alert, Durable durable) {
  std::string payload = fmt::EncodeAlertPayload(alert);
  fmt::SetPayloadAccepted(&payload, clock_->Now());
  absl::Status refusal;
  if (payload.size() > fmt::kMaxRecordPayload) {
    refusal = absl::InvalidArgumentError(absl::StrCat(
        "alert too large for the spool: ", payload.size(), " bytes encoded"));
  } else {
    const uint64_t framed = fmt::FramedSize(payload.size());
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      m_.refused_stopped->Inc();
      refusal = absl::UnavailableError("spool: shutting down");
    } else if (write_failed_ &&
               clock_->Now() < write_failed_at_ + options_.write_retry_after) {
      m_.refused_disk->Inc();
      refusal = absl::ResourceExhaustedError(
          "spool: the disk refused the last write");
    } else if (bytes_ + reserved_bytes_ + framed > options_.max_bytes) {
      m_.refused_full->Inc();
      refusal = absl::ResourceExhaustedError(
          absl::StrCat("spool full (max_bytes ", options_.max_bytes, ")"));
    } else {
      const uint64_t seq = next_seq_++;
      fmt::SetPayloadSeq(&payload, seq);
      reserved_bytes_ += framed;
      pending_.push_back(Pending{seq, std::move(payload), std::move(durable)});
      return;
    }
  }
  std::move(durable)(refusal);
}

void Spool::WriterLoop() {
  while (true) {
    std::vector<Pending> batch;
    {
      mu_.LockWhen(absl::Condition(this, &Spool::HasWork));
      if (pending_.empty()) {  // stopping, and everything is written
        mu_.Unlock();
        return;
      }
      batch.reserve(pending_.size());
      for (Pending& p : pending_) batch.push_back(std::move(p));
      pending_.clear();
      mu_.Unlock();
    }
    WriteBatch(batch);
  }
}

void Spool::WriteBatch(std::vector<Pending>& batch) {
  std::string buf;
  size_t i = 0;
  while (i < batch.size()) {
    // Move to a prepared segment as soon as there is one, rather than when the
    // plain active one fills up. (An empty active segment is written once
    // first: its name is the seq it starts with.)
    if (!active_preallocated_ && active_written_ > 0 && Preallocating()) {
      bool ready;
      {
        absl::MutexLock lock(&mu_);
        ready = prepared_ready_;
      }
      if (ready) {
        if (absl::Status s = Roll(batch[i].seq); !s.ok()) {
          FailFrom(batch, i, s);
          return;
        }
      }
    }
    // One run: the records that fit the active segment (one in kAlways), one
    // write and one fsync for all of them.
    buf.clear();
    size_t j = i;
    while (j < batch.size()) {
      const uint64_t framed = fmt::FramedSize(batch[j].payload.size());
      const uint64_t used = active_written_ + buf.size();
      if (used > 0 && used + framed > options_.segment_bytes) break;
      fmt::AppendFramedRecord(&buf, batch[j].payload);
      ++j;
      if (options_.fsync == FsyncMode::kAlways) break;
    }
    if (j == i) {  // batch[i] does not fit: seal the segment and start one
      if (absl::Status s = Roll(batch[i].seq); !s.ok()) {
        FailFrom(batch, i, s);
        return;
      }
      continue;
    }
    std::string path;
    {
      absl::MutexLock lock(&mu_);
      path = segments_.back().path;
    }
    absl::Status s = options_.write_fault ? options_.write_fault(batch[i].seq)
                                          : absl::OkStatus();
    size_t written = 0;
    if (s.ok())
      s = core::WriteAllAt(active_fd_, buf, active_written_, &written);
    if (s.ok() && options_.fsync != FsyncMode::kNever) {
      s = FsyncFd(active_fd_, path);
    }
    if (!s.ok()) {
      // Take back what was written, so that nothing unacknowledged stays
      // behind the records that follow.
      // (This gives up the active segment's preallocation, if any.)
      if (written > 0) {
        active_preallocated_ = false;
        if (::ftruncate(active_fd_, static_cast<off_t>(active_written_)) != 0) {
          // Left in place, the partial bytes are skipped as a damaged region
          // by readers and recovery; account for them.
          absl::MutexLock lock(&mu_);
          bytes_ += written;
          active_written_ += written;
          segments_.back().size = active_written_;
          core::LogError("spool: cannot truncate a failed write",
                         {{"segment", path}});
        }
      }
      FailFrom(batch, i, s);
      return;
    }
    if (options_.fsync != FsyncMode::kNever) {
      m_.fsyncs->Inc();
      m_.records_per_fsync->Observe(static_cast<double>(j - i));
    }
    active_written_ += buf.size();
    {
      absl::MutexLock lock(&mu_);
      segments_.back().size = active_written_;
      bytes_ += buf.size();
      reserved_bytes_ -= buf.size();
      durable_seq_ = batch[j - 1].seq;
      write_failed_ = false;
      UpdateGauges();
      UpdateWantPrepared();
    }
    m_.records->Inc(j - i);
    for (size_t k = i; k < j; ++k) {
      std::move(batch[k].durable)(batch[k].seq);
    }
    i = j;
  }
}

absl::Status Spool::Roll(uint64_t base_seq) {
  const std::string path = SegmentPath(options_.dir, base_seq);
  bool prepared;
  {
    absl::MutexLock lock(&mu_);
    prepared = std::exchange(prepared_ready_, false);
    // Keeps the preparer off PreparedPath() until the rename below is done.
    want_prepared_ = false;
  }
  int fd = -1;
  if (prepared) {
    // rename replaces a file of this name, which can only be an empty
    // leftover of a roll that failed after creating it.
    if (::rename(PreparedPath().c_str(), path.c_str()) == 0) {
      fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0) {
      core::LogWarn("spool: cannot use the preallocated segment file",
                    {{"segment", path}, {"error", std::strerror(errno)}});
      prepared = false;
    }
  }
  if (fd < 0) {
    // O_TRUNC, not O_EXCL: see above.
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("cannot create", path);
  }
  if (absl::Status s = SyncDir(options_.dir); !s.ok()) {
    ::close(fd);
    return s;
  }
  // The sealed segment was fsynced by the run that last wrote to it; its
  // unused zeros go. Not synced: recovery cuts them again after a crash.
  if (active_preallocated_ &&
      ::ftruncate(active_fd_, static_cast<off_t>(active_written_)) != 0) {
    core::LogWarn("spool: cannot cut a sealed segment to its records",
                  {{"error", std::strerror(errno)}});
  }
  ::close(active_fd_);
  active_fd_ = fd;
  active_written_ = 0;
  active_preallocated_ = prepared;
  absl::MutexLock lock(&mu_);
  segments_.back().sealed_at = clock_->Now();
  segments_.push_back(Segment{base_seq, path, 0, absl::InfiniteFuture()});
  prepare_failed_ = false;
  UpdateGauges();
  UpdateWantPrepared();
  return absl::OkStatus();
}

void Spool::UpdateWantPrepared() {
  // Half way through a prepared segment is early enough to prepare the next
  // one in time, and keeps at most about 1.5 segments of zeros around.
  want_prepared_ =
      Preallocating() && !prepare_failed_ &&
      (!active_preallocated_ || active_written_ >= options_.segment_bytes / 2);
}

void Spool::PreparerLoop() {
  while (true) {
    mu_.LockWhen(absl::Condition(this, &Spool::PreparerHasWork));
    const bool stopping = stopping_;
    mu_.Unlock();
    if (stopping) return;
    absl::Status s = PrepareSegmentFile();
    absl::MutexLock lock(&mu_);
    if (s.ok()) {
      prepared_ready_ = true;
    } else if (!stopping_) {
      // Appends go on into plain files; tried again at the next roll.
      prepare_failed_ = true;
      want_prepared_ = false;
      core::LogWarn("spool: cannot preallocate a segment file",
                    {{"error", s.message()}});
    }
  }
}

absl::Status Spool::PrepareSegmentFile() {
  const std::string path = PreparedPath();
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", path);
  // Small: malloc keeps what is freed for reuse, so a larger buffer would stay
  // resident after the first segment; the writes are as many bytes either way.
  constexpr size_t kZeroChunkBytes = 64 << 10;
  const std::string zeros(kZeroChunkBytes, '\0');
  absl::Status s;
  for (uint64_t at = 0; s.ok() && at < options_.segment_bytes;
       at += zeros.size()) {
    {
      // Between writes, so that closing does not wait for a whole segment.
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        s = absl::CancelledError("spool: closing");
        break;
      }
    }
    const uint64_t n =
        std::min<uint64_t>(zeros.size(), options_.segment_bytes - at);
    s = core::WriteAllAt(fd, absl::string_view(zeros.data(), n), at);
    if (!s.ok())
      s = absl::Status(s.code(), absl::StrCat(s.message(), " ", path));
  }
  if (s.ok()) s = FsyncFd(fd, path);
  ::close(fd);
  if (!s.ok()) ::unlink(path.c_str());
  return s;
}

void Spool::FailFrom(std::vector<Pending>& batch, size_t from,
                     const absl::Status& error) {
  core::LogError("spool: write failed, refusing appends",
                 {{"error", error.message()}});
  const absl::Status refusal = absl::ResourceExhaustedError(
      absl::StrCat("spool: the disk refused a write: ", error.message()));
  std::deque<Pending> rest;
  {
    absl::MutexLock lock(&mu_);
    rest.swap(pending_);
    // Nobody was told these seqs: hand them out again, so seqs stay gapless.
    next_seq_ = batch[from].seq;
    reserved_bytes_ = 0;
    write_failed_ = true;
    write_failed_at_ = clock_->Now();
  }
  m_.refused_disk->Inc(batch.size() - from + rest.size());
  for (size_t k = from; k < batch.size(); ++k) {
    std::move(batch[k].durable)(refusal);
  }
  for (Pending& p : rest) std::move(p.durable)(refusal);
}

absl::Status Spool::ReadFrom(uint64_t after_seq,
                             absl::FunctionRef<bool(core::Alert)> fn) const {
  SpoolCursor cursor{.after_seq = after_seq};
  return Read(&cursor, fn);
}

absl::Status Spool::Read(SpoolCursor* cursor,
                         absl::FunctionRef<bool(core::Alert)> fn) const {
  std::vector<Segment> snapshot;
  uint64_t offset = 0;  // where to start in snapshot[0]
  uint64_t durable;
  {
    absl::MutexLock lock(&mu_);
    durable = durable_seq_;
    // Segment k holds [base_k, base_k+1): by default start with the last one
    // whose base is at or below after_seq + 1 (bases are >= 1).
    size_t first = 0;
    for (size_t k = 0; k < segments_.size(); ++k) {
      if (segments_[k].base_seq - 1 <= cursor->after_seq) first = k;
    }
    if (cursor->segment != 0) {
      auto at = std::find_if(
          segments_.begin(), segments_.end(),
          [&](const Segment& s) { return s.base_seq == cursor->segment; });
      if (at != segments_.end()) {
        if (cursor->offset > at->size) {
          return absl::InvalidArgumentError(
              absl::StrCat("spool: cursor at byte ", cursor->offset,
                           " of the segment from seq ", at->base_seq,
                           ", which has ", at->size));
        }
        // A cursor whose after_seq was raised past its segment starts at
        // the segment holding after_seq + 1 instead.
        if (static_cast<size_t>(at - segments_.begin()) >= first) {
          first = static_cast<size_t>(at - segments_.begin());
          offset = cursor->offset;
        }
      } else if (segments_.empty() ||
                 segments_.front().base_seq - 1 > cursor->after_seq) {
        // Its segment went while records after the cursor were in it.
        return absl::OutOfRangeError(
            absl::StrCat("spool: the segment from seq ", cursor->segment,
                         " was removed by retention before seq ",
                         cursor->after_seq + 1, " was read"));
      }
      // Otherwise the cursor was at the end of a segment that retention
      // removed: the records after it start in segments_[first].
    }
    snapshot.assign(segments_.begin() + first, segments_.end());
  }
  for (const Segment& segment : snapshot) {
    // A segment read to its end already is not opened again (it may be gone).
    if (offset < segment.size) {
      bool stop = false;
      absl::StatusOr<SegmentScan> scanned = ScanSegmentFile(
          segment.path, offset, segment.size,
          [&](uint64_t at, absl::string_view payload) {
            const uint64_t seq = PayloadSeq(payload);
            if (seq <= cursor->after_seq) return true;
            *cursor = SpoolCursor{seq, segment.base_seq,
                                  at + fmt::FramedSize(payload.size())};
            absl::StatusOr<core::Alert> alert =
                fmt::DecodeAlertPayload(payload);
            if (!alert.ok()) {
              core::LogError("spool: undecodable record skipped",
                             {{"segment", segment.path},
                              {"offset", absl::StrCat(at)},
                              {"error", alert.status().message()}});
              return true;
            }
            m_.replayed->Inc();
            if (!fn(*std::move(alert))) stop = true;
            return !stop;
          },
          [](uint64_t, uint64_t) {});
      if (!scanned.ok()) {
        // Every segment of the snapshot holds seqs the caller asked for: one
        // that retention removed meanwhile is a gap, never skipped in silence.
        if (absl::IsNotFound(scanned.status())) {
          return absl::OutOfRangeError(absl::StrCat(
              "spool: the segment from seq ", segment.base_seq,
              " was removed by retention while it was being read"));
        }
        return scanned.status();
      }
      if (stop) return absl::OkStatus();
    }
    cursor->segment = segment.base_seq;
    cursor->offset = segment.size;
    offset = 0;
  }
  // Every durable record up to `durable` was in the snapshot.
  cursor->after_seq = std::max(cursor->after_seq, durable);
  return absl::OkStatus();
}

absl::Status Spool::SetOutputs(const std::vector<std::string>& outputs) {
  for (const std::string& name : outputs) {
    if (name.empty()) return absl::InvalidArgumentError("empty output name");
  }
  const std::set<std::string> wanted(outputs.begin(), outputs.end());
  absl::MutexLock progress_lock(&progress_mu_);
  std::vector<std::pair<std::string, OutputProgress>> added;
  std::vector<std::string> removed;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = progress_.begin(); it != progress_.end();) {
      if (wanted.count(it->first) == 0) {
        removed.push_back(it->first);
        it = progress_.erase(it);
      } else {
        ++it;
      }
    }
    for (const std::string& name : wanted) {
      if (progress_.count(name) > 0) continue;
      OutputProgress head{next_seq_ - 1, {}};
      progress_[name] = head;
      added.emplace_back(name, std::move(head));
    }
  }
  for (const auto& [name, progress] : added) {
    if (absl::Status s = WriteProgressFile(name, progress); !s.ok()) return s;
  }
  for (const std::string& name : removed) {
    const std::string path = ProgressPath(name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus("cannot delete", path);
    }
  }
  if (!removed.empty()) return SyncDir(options_.dir + "/progress");
  return absl::OkStatus();
}

absl::Status Spool::MarkProgress(absl::string_view output,
                                 uint64_t low_watermark,
                                 const std::set<uint64_t>& finished_above) {
  absl::MutexLock progress_lock(&progress_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (progress_.find(output) == progress_.end()) {
      return absl::NotFoundError(
          absl::StrCat("spool: unknown output ", output));
    }
  }
  OutputProgress progress{
      low_watermark,
      {finished_above.upper_bound(low_watermark), finished_above.end()}};
  if (absl::Status s = WriteProgressFile(std::string(output), progress);
      !s.ok()) {
    return s;
  }
  absl::MutexLock lock(&mu_);
  auto it = progress_.find(output);
  if (it != progress_.end()) it->second = std::move(progress);
  return absl::OkStatus();
}

absl::Status Spool::WriteProgressFile(const std::string& name,
                                      const OutputProgress& progress) {
  const std::string path = ProgressPath(name);
  const std::string tmp = absl::StrCat(path, kTempSuffix);
  const std::string data = fmt::EncodeProgress(
      fmt::ProgressData{progress.low_watermark, progress.finished_above});
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", tmp);
  absl::Status s = core::WriteAll(fd, data);
  if (s.ok() && options_.fsync != FsyncMode::kNever) s = FsyncFd(fd, tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoStatus("cannot rename", tmp);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDir(options_.dir + "/progress");
}

std::optional<OutputProgress> Spool::LoadProgress(
    absl::string_view output) const {
  absl::MutexLock lock(&mu_);
  auto it = progress_.find(output);
  if (it == progress_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Spool::outputs() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, progress] : progress_) names.push_back(name);
  return names;
}

absl::StatusOr<int> Spool::Compact() {
  std::vector<std::string> doomed;
  {
    absl::MutexLock lock(&mu_);
    uint64_t min_watermark = std::numeric_limits<uint64_t>::max();
    for (const auto& [name, progress] : progress_) {
      min_watermark = std::min(min_watermark, progress.low_watermark);
    }
    const absl::Time now = clock_->Now();
    size_t k = 0;
    // Only a prefix goes, so that the remaining segments stay contiguous.
    for (; k + 1 < segments_.size(); ++k) {
      const uint64_t last_in_segment = segments_[k + 1].base_seq - 1;
      if (last_in_segment > min_watermark) break;
      if (segments_[k].sealed_at + options_.retain > now) break;
      bytes_ -= segments_[k].size;
      doomed.push_back(segments_[k].path);
    }
    segments_.erase(segments_.begin(), segments_.begin() + k);
    if (k > 0) write_failed_ = false;  // space freed: try the disk again
    UpdateGauges();
  }
  absl::Status status;
  for (const std::string& path : doomed) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT && status.ok()) {
      status = ErrnoStatus("cannot delete", path);
    }
  }
  if (!doomed.empty() && status.ok()) status = SyncDir(options_.dir);
  if (!status.ok()) return status;
  return static_cast<int>(doomed.size());
}

uint64_t Spool::last_seq() const {
  absl::MutexLock lock(&mu_);
  return next_seq_ - 1;
}

uint64_t Spool::first_seq() const {
  absl::MutexLock lock(&mu_);
  return segments_.empty() ? next_seq_ : segments_.front().base_seq;
}

uint64_t Spool::durable_seq() const {
  absl::MutexLock lock(&mu_);
  return durable_seq_;
}

uint64_t Spool::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

size_t Spool::segments() const {
  absl::MutexLock lock(&mu_);
  return segments_.size();
}

SpoolStats Spool::stats() const {
  SpoolStats s;
  s.fsyncs = m_.fsyncs->Value();
  s.fsynced_records = static_cast<uint64_t>(m_.records_per_fsync->Sum());
  s.records = m_.records->Value();
  s.corrupt_records = m_.corrupt->Value();
  s.truncated_tails = m_.truncated->Value();
  s.replayed = m_.replayed->Value();
  s.refused = m_.refused_full->Value() + m_.refused_disk->Value() +
              m_.refused_stopped->Value();
  return s;
}

}  // namespace corral::router
