#ifndef CORRAL_ROUTER_SPOOL_H_
#define CORRAL_ROUTER_SPOOL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/alert.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/metrics.h"

namespace corral::router {

// When the spool calls fsync (fdatasync) on its segments.
enum class FsyncMode {
  kBatch,   // group commit: one fsync covers every record written before it
  kAlways,  // one fsync per record
  kNever,   // the OS decides; "durable" means written to the page cache
};
// "batch" | "always" | "never"; InvalidArgument otherwise.
absl::StatusOr<FsyncMode> ParseFsyncMode(absl::string_view name);

struct SpoolOptions {
  std::string dir;
  FsyncMode fsync = FsyncMode::kBatch;
  // Segment bytes plus bytes accepted but not yet written; an append that
  // would pass it is refused.
  uint64_t max_bytes = 1ULL << 30;
  // How long a segment is kept after it was sealed, even when every output is
  // past it (for resuming subscribers).
  absl::Duration retain = absl::Hours(1);
  // A segment is sealed and a new one started before a record would make it
  // larger than this (a larger record gets a segment of its own).
  uint64_t segment_bytes = 64ULL << 20;
  // Write records into segment files filled with zeros beforehand (by a
  // thread of their own, off the write path), so that the fdatasync after an
  // append flushes only data: appending to a file also changes its size and
  // block map, which costs a second write per fsync (and a journal commit on
  // journaling filesystems). Disk use grows by up to two segments of zeros:
  // the rest of the active segment, and the next one. Ignored with
  // FsyncMode::kNever.
  bool preallocate = true;
  // After the disk refused a write, appends are refused for this long; then
  // the next appends are tried again (so the spool resumes by itself once
  // space frees). A Compact() that deletes a segment also ends the pause.
  absl::Duration write_retry_after = absl::Seconds(1);
  // For tests: called on the writer thread before each write(2) with the
  // first seq of the records about to be written; a non-OK status is treated
  // as that write's error (e.g. absl::ResourceExhaustedError for ENOSPC).
  std::function<absl::Status(uint64_t first_seq)> write_fault;

  // The options of a `spool:` config section; segment_bytes is at most an
  // eighth of max_bytes (so that compaction can always free room), and
  // write_retry_after keeps its default.
  static absl::StatusOr<SpoolOptions> FromConfig(
      const core::SpoolConfig& config);
};

// One output's persisted delivery progress (see CompletionTracker): every
// seq <= low_watermark is finished, and so is every seq in finished_above.
struct OutputProgress {
  uint64_t low_watermark = 0;
  std::set<uint64_t> finished_above;
};

// Where a chunked read of the spool stopped, so that the next read goes on
// from there without scanning again what was read (see Spool::Read). A cursor
// with only after_seq set is not positioned: its first read starts like
// ReadFrom(after_seq). A reader that got records elsewhere may raise
// after_seq and keep the position: the next read starts at the position or
// at the start of the segment holding after_seq + 1, whichever is later.
// Positions are only meaningful to the Spool object that returned them.
struct SpoolCursor {
  // Every record with seq <= after_seq is behind the cursor.
  uint64_t after_seq = 0;
  // The segment (its base seq; 0: not positioned) and the byte offset in it
  // of the next record to read.
  uint64_t segment = 0;
  uint64_t offset = 0;
};

// Counters since the registry was created (the registry's cells; with one
// spool per registry they are this spool's).
struct SpoolStats {
  uint64_t fsyncs = 0;
  uint64_t fsynced_records = 0;  // records covered by those fsyncs
  uint64_t records = 0;          // records made durable (any fsync mode)
  uint64_t corrupt_records = 0;  // damaged regions (each >= 1 record) skipped
                                 // at recovery, and damaged progress files
  uint64_t truncated_tails = 0;  // torn tails cut off at recovery
  uint64_t replayed = 0;         // alerts handed out by ReadFrom/Read
  uint64_t refused = 0;          // appends refused (full, disk, stopped)
};

// The durable log between intake and routing: a segmented append-only log of
// alerts under `dir`, framed records with CRC-32C (format in
// spool_format.h), plus each output's delivery progress.
//
// Appends are written by one writer thread that does group commit: it takes
// every record appended while the previous write+fsync ran, writes them with
// one write(2) per segment and covers them with one fdatasync. An append's
// callback runs only after the fsync that covers its record. Records are in
// the file in seq order; seqs are contiguous and monotonic across restarts.
// A seq is never reported twice: when a write fails, the seqs of the refused
// records (which no caller was told) are handed out again, so no gap appears;
// the seqs of a torn tail (never acknowledged) are reused the same way.
//
// Recovery (Open): a damaged or torn tail of the last segment is truncated at
// the last valid record (logged, counted in corrupt/truncated metrics); a
// damaged region followed by valid records is skipped with an error log and
// a count, the records after it are kept. Open never fails because of damaged
// records, so a damaged spool cannot cause a crash loop.
//
// Full: when max_bytes would be passed, or after the disk refused a write,
// Append refuses with ResourceExhausted; nothing accepted is ever dropped.
// Appends resume once Compact() frees space (or, after a refused write, once
// write_retry_after passed).
//
// Retention: a sealed segment is deleted by Compact() when every output in
// SetOutputs() has a low watermark at or past its last seq and it was sealed
// at least `retain` ago (by the clock; for segments found at Open, by their
// mtime). With no outputs, only `retain` holds segments. The active (last)
// segment is never deleted. Compact() is not called by the spool itself: the
// owner calls it periodically (and when appends are refused as full).
//
// Preallocation (SpoolOptions::preallocate): while the active segment is a
// plain file (a new spool, or one recovered with a torn tail), or once it is
// half written, a zero-filled file is prepared in the background; the writer
// moves to it before its next write, or at the next roll. A sealed segment
// is cut to its records; zeros after the last record of a segment are unused
// space, not damage, at recovery.
//
// Memory: ReadFrom/Read and Open read a segment 1 MiB at a time (more
// only for a record larger than that), so that readers at once (every
// output's backlog, every resuming gRPC stream) stay small.
//
// Thread-safe. Blocking: Open (reads every segment), ReadFrom/Read (read
// files), MarkProgress/SetOutputs (write + fsync + rename + fsync dir),
// Compact (unlink + fsync dir), the destructor (waits for pending appends to
// become durable). Append never blocks on I/O. Callbacks run on the writer
// thread (or, for an immediate refusal, on the caller's) with no lock held;
// they should be quick and may call any method but the destructor.
//
// The directory is locked (flock) so that two processes cannot share it.
class Spool {
 public:
  using Durable = absl::AnyInvocable<void(absl::StatusOr<uint64_t> seq) &&>;

  // Opens (creating if needed) the spool in options.dir and recovers it.
  // `metrics` may be null (then metrics are kept privately); `clock` is
  // borrowed, must outlive the spool, and dates segments for retention.
  static absl::StatusOr<std::unique_ptr<Spool>> Open(
      SpoolOptions options, core::MetricsRegistry* metrics, core::Clock* clock);

  // Waits until every accepted append is durable and its callback ran.
  ~Spool();

  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Stores `alert` under the next seq and the clock's time as its accepted
  // time (its own seq and accepted fields are ignored; uuid is stored as
  // given) and calls `durable(seq)` once it is on disk per the fsync mode. The
  // alert is encoded before Append returns: the caller keeps it. Refusals, with
  // nothing written: ResourceExhausted (full, or the disk refused writes),
  // Unavailable (shutting down), InvalidArgument (record larger than 64 MiB).
  void Append(const core::Alert& alert, Durable durable);

  // Calls fn for every durable record with seq > after_seq, in seq order, until
  // fn returns false. Records appended after the call started may or may not
  // be included. Damaged records are skipped (they were counted at Open).
  // OutOfRange when Compact() removes a segment before it is read: what was
  // handed out so far is complete, but the read cannot go on without a gap.
  // Scans the segment holding after_seq + 1 from its start: to read on in
  // chunks, use Read.
  absl::Status ReadFrom(uint64_t after_seq,
                        absl::FunctionRef<bool(core::Alert)> fn) const;
  // Reads on from `*cursor`: calls fn for every durable record with seq >
  // cursor->after_seq, in seq order, until fn returns false (the record it
  // was given counts as read) or the durable records end, and moves *cursor
  // past every record read, so that the next Read starts where this one
  // stopped: the bytes a read costs are those of the records it reads, never
  // again those of earlier reads. Damaged and undecodable records are passed
  // over. When the records end, cursor->after_seq becomes the durable seq at
  // the start of the call: every seq up to it was handed out or has no record
  // (damaged, or never written). A cursor stays usable while the segments
  // holding records after it are kept (a spool output's progress holds
  // them); a cursor whose segment was removed goes on in the next segment
  // when nothing after it was removed. Errors: OutOfRange when records after
  // the cursor were removed by Compact() (before or during the read; what was
  // handed out so far is complete and *cursor is past it), InvalidArgument for
  // a cursor past the end of its segment, and errors reading the files.
  absl::Status Read(SpoolCursor* cursor,
                    absl::FunctionRef<bool(core::Alert)> fn) const;

  // Declares the outputs that hold segments. An output not seen before starts
  // at the head: its progress is last_seq() (it replays nothing). An output
  // that was known (in the previous call, or from disk) but is not in
  // `outputs` is forgotten: its progress file is deleted and it no longer
  // holds segments. InvalidArgument for an empty name.
  absl::Status SetOutputs(const std::vector<std::string>& outputs);
  // Persists an output's progress atomically (temp file, fsync, rename, fsync
  // dir; without the fsyncs in FsyncMode::kNever). NotFound for an output not
  // declared by SetOutputs (or recovered from disk); seqs in finished_above at
  // or below low_watermark are dropped.
  absl::Status MarkProgress(absl::string_view output, uint64_t low_watermark,
                            const std::set<uint64_t>& finished_above);
  // The progress last marked (or recovered at Open) for `output`; nullopt for
  // an unknown output. A damaged progress file recovers as watermark 0 (the
  // output replays everything retained: at least once, never lost).
  std::optional<OutputProgress> LoadProgress(absl::string_view output) const;
  // The outputs that hold segments.
  std::vector<std::string> outputs() const;

  // Deletes the sealed segments every output is past and that are older than
  // `retain`; returns how many it deleted.
  absl::StatusOr<int> Compact();

  // The last seq handed out by Append (0 before the first).
  uint64_t last_seq() const;
  // The lowest seq the spool may still hold: every record below it was
  // compacted away (last_seq() + 1 when the spool holds nothing).
  uint64_t first_seq() const;
  // The highest seq that is durable (its callback may still be running).
  uint64_t durable_seq() const;
  // Bytes in segment files (written records).
  uint64_t bytes() const;
  size_t segments() const;
  SpoolStats stats() const;

 private:
  struct Segment {
    uint64_t base_seq;  // first seq it may hold (its file name)
    std::string path;
    uint64_t size;         // bytes of durable records
    absl::Time sealed_at;  // InfiniteFuture while active
  };
  struct Pending {
    uint64_t seq;
    std::string payload;
    Durable durable;
  };
  struct Metrics {
    core::Gauge* bytes;
    core::Gauge* segments;
    core::Counter* fsyncs;
    core::Histogram* records_per_fsync;
    core::Counter* records;
    core::Counter* corrupt;
    core::Counter* truncated;
    core::Counter* replayed;
    core::Counter* refused_full;
    core::Counter* refused_disk;
    core::Counter* refused_stopped;
  };

  Spool(SpoolOptions options, core::MetricsRegistry* metrics,
        core::Clock* clock);
  absl::Status Recover();
  absl::Status LoadAllProgress();
  // Seals the active segment (cut to its records) and starts the segment
  // from base_seq: in the prepared file when one is ready, else a new empty
  // file. Writer thread.
  absl::Status Roll(uint64_t base_seq);
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !pending_.empty() || stopping_;
  }
  void WriterLoop();
  // Prepares zero-filled segment files when the writer wants one.
  void PreparerLoop();
  bool PreparerHasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || (want_prepared_ && !prepared_ready_);
  }
  // Writes PreparedPath(): segment_bytes of zeros, fdatasynced.
  absl::Status PrepareSegmentFile();
  std::string PreparedPath() const;
  // Sets want_prepared_ from the active segment's state (writer thread, or
  // Open before the threads start).
  void UpdateWantPrepared() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteBatch(std::vector<Pending>& batch);
  // Fails batch[from..] and everything still pending, and rewinds next_seq_ so
  // that the refused seqs are handed out again (no gaps).
  void FailFrom(std::vector<Pending>& batch, size_t from,
                const absl::Status& error);
  absl::Status WriteProgressFile(const std::string& name,
                                 const OutputProgress& progress);
  void UpdateGauges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string ProgressPath(absl::string_view output) const;
  absl::Status SyncDir(const std::string& dir) const;

  const SpoolOptions options_;
  std::unique_ptr<core::MetricsRegistry> own_metrics_;
  core::Clock* const clock_;
  Metrics m_;
  int lock_fd_ = -1;

  bool Preallocating() const {
    return options_.preallocate && options_.fsync != FsyncMode::kNever;
  }

  // Owned by the writer thread after Open.
  int active_fd_ = -1;
  uint64_t active_written_ = 0;
  // The active file is zero-filled past active_written_.
  bool active_preallocated_ = false;

  // Serialises progress file writes; taken before mu_.
  mutable absl::Mutex progress_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  mutable absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t durable_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t reserved_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // accepted, not written
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;           // in segment files
  std::vector<Segment> segments_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set when the disk refused a write; appends are refused until
  // write_failed_at_ + write_retry_after or a Compact() that frees space.
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time write_failed_at_ ABSL_GUARDED_BY(mu_);
  // The outputs that hold segments, and their progress.
  std::map<std::string, OutputProgress, std::less<>> progress_
      ABSL_GUARDED_BY(mu_);
  // Preallocation: the writer wants a prepared file; one is ready at
  // PreparedPath(); preparing failed (not tried again until the next roll).
  bool want_prepared_ ABSL_GUARDED_BY(mu_) = false;
  bool prepared_ready_ ABSL_GUARDED_BY(mu_) = false;
  bool prepare_failed_ ABSL_GUARDED_BY(mu_) = false;

  std::thread writer_;
  std::thread preparer_;
};

}  // namespace corral::router

#endif  // CORRAL_ROUTER_SPOOL_H_
