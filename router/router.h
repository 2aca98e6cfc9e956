#ifndef CORRAL_ROUTER_ROUTER_H_
#define CORRAL_ROUTER_ROUTER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/intake.h"
#include "router/alert_feed.h"
#include "router/output_queue.h"
#include "router/spool.h"

namespace corral::router {

// The Intake behind every input. An alert is accepted once the spool has it on
// disk: then it has its seq (and a uuid, unless it came with one), the sender
// is answered, and it goes to the queue of every output whose filter matches.
// Only the spool refuses alerts (whole, never half-accepted):
// ResourceExhausted when it is full or the disk refuses writes, Unavailable
// once intake has stopped. A queue never refuses: what does not fit in its
// memory it reads back from the spool (see OutputQueue).
//
// Each output's progress goes to the spool about once a second, and on start
// every alert an output has not finished is replayed to it (its queue reads
// them from the spool, queue_size at a time), so that a crash or restart
// delivers at least once what was accepted. The set of outputs can be changed
// while alerts flow (Reconfigure). Thread-safe.
class Router : public core::Intake {
 public:
  // The queues alerts are routed to, in config order.
  using QueueSet = std::vector<std::shared_ptr<OutputQueue>>;

  // Takes ownership of the queues; borrows the spool, which must outlive it,
  // and the feed (may be null), which gets every accepted alert after the
  // queues.
  Router(std::vector<std::unique_ptr<OutputQueue>> queues, Spool* spool,
         AlertFeed* feed = nullptr);
  ~Router() override;

  // Declares the outputs to the spool, resumes each queue from its progress
  // (it reads what it has not finished from the spool once started), starts
  // the queues and the progress writer.
  absl::Status Start();
  void Submit(core::Alert alert, core::IntakeDone done) override;

  // Refuses every later Submit with Unavailable.
  void StopIntake();
  // Waits until alerts on their way to the disk are routed and every queue is
  // idle, or `deadline` passes; true when all is idle.
  bool Drain(absl::Time deadline);
  // Closes intake, waits (bounded) for alerts on their way to the disk to be
  // routed, stops every queue's workers and persists the final progress.
  // Idempotent; must not be called from a spool callback.
  void Stop();

  // Changes the set of outputs while intake stays open (configuration
  // reload). `next` is the whole new set, in order, names unique:
  //   - a queue of the current set that is in `next` goes on untouched;
  //   - a current queue not in `next` is retired: it is stopped, and what it
  //     had not finished stays in the spool;
  //   - a queue in `next` that is not current (not started yet) continues the
  //     spool progress of the output of its name, so what that output had not
  //     finished is replayed to it (alerts it was sending at that moment may
  //     be sent again: at least once); an output the spool does not know
  //     starts at the head.
  // Outputs retired without a successor of their name no longer hold spool
  // segments. Submit waits while the sets are swapped and the new queues
  // take their progress (they read their backlog from the spool once
  // started); retired queues are stopped after intake resumes (this waits for
  // their sends in flight). Returns the new queues' backlogs (see
  // OutputQueue::ResumeFrom). Fails with nothing changed when the router is
  // not running, names repeat, or alerts on their way to the disk are not
  // routed in time. Not to be called concurrently with Stop().
  absl::StatusOr<uint64_t> Reconfigure(QueueSet next);

  // The queues alerts are routed to now (a snapshot: Reconfigure does not
  // change it).
  std::shared_ptr<const QueueSet> queues() const;
  // The queues' backlogs at start (see OutputQueue::ResumeFrom): the alerts
  // left unfinished by the previous run, which the queues read back from the
  // spool as they deliver (corral_spool_replayed_alerts_total counts the
  // reads).
  uint64_t replayed() const { return replayed_; }

 private:
  // Hands one durable alert to the queues (on the spool's writer thread).
  void Route(core::AlertPtr alert, const QueueSet& queues,
             const std::vector<bool>& matches);
  // Resumes `queue` from its spool progress (it then reads what it has not
  // finished from the spool); returns its backlog.
  absl::StatusOr<uint64_t> Resume(OutputQueue& queue);
  // The spool steps of Reconfigure, while intake is paused.
  absl::StatusOr<uint64_t> SwitchProgress(const QueueSet& current,
                                          const QueueSet& next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress_mu_);
  void PersistProgress() ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress_mu_);
  // Waits until every submitted alert has been routed (or refused) by its
  // spool callback, or `deadline` passes; true when none is pending.
  bool AwaitRouted(absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProgressLoop();

  Spool* const spool_;
  AlertFeed* const feed_;
  uint64_t replayed_ = 0;
  std::thread progress_thread_;

  // Serialises progress writes with reconfiguration; taken before mu_.
  absl::Mutex progress_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Last persisted progress per output, to skip unchanged writes.
  std::map<std::string, CompletionTracker, std::less<>> persisted_
      ABSL_GUARDED_BY(progress_mu_);

  mutable absl::Mutex mu_;
  std::shared_ptr<const QueueSet> queues_ ABSL_GUARDED_BY(mu_);
  // Set by Reconfigure while it swaps the sets: Submit waits.
  bool reconfiguring_ ABSL_GUARDED_BY(mu_) = false;
  // Intake opens at the end of Start(), once replay has set every queue's
  // progress, and closes for good at StopIntake() or Stop().
  bool intake_stopped_ ABSL_GUARDED_BY(mu_) = true;
  bool started_ ABSL_GUARDED_BY(mu_) = false;  // progress is worth persisting
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int64_t appending_ ABSL_GUARDED_BY(mu_) = 0;  // submitted, not yet durable
};

}  // namespace corral::router

#endif  // CORRAL_ROUTER_ROUTER_H_
