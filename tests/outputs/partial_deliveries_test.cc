#include "outputs/partial_deliveries.h"

#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/outputs/fixed_alert.h"

namespace corral::outputs {
namespace {

std::vector<uint64_t> Seqs(const std::vector<core::AlertPtr>& alerts) {
  std::vector<uint64_t> seqs;
  for (const core::AlertPtr& a : alerts) seqs.push_back(a->seq);
  return seqs;
}

TEST(PartialDeliveriesTest, SkipsWhatGotThroughUntilTheBatchIsForgotten) {
  PartialDeliveries partial(100);
  const std::vector<core::AlertPtr> batch = {FixedAlert(1), FixedAlert(2),
                                             FixedAlert(3)};
  EXPECT_EQ(Seqs(partial.Undelivered(batch)), (std::vector<uint64_t>{1, 2, 3}));
  partial.Add(*batch[0]);
  partial.Add(*batch[2]);
  EXPECT_EQ(Seqs(partial.Undelivered(batch)), (std::vector<uint64_t>{2}));
  partial.Forget(batch);
  EXPECT_EQ(Seqs(partial.Undelivered(batch)), (std::vector<uint64_t>{1, 2, 3}));
}

TEST(PartialDeliveriesTest, AlertsAreKnownByUuidAndSeq) {
  PartialDeliveries partial(100);
  partial.Add(*FixedAlert(1));
  // Same uuid, another seq (the same alert spooled again): not delivered.
  const std::vector<core::AlertPtr> other = {FixedAlert(2)};
  EXPECT_EQ(partial.Undelivered(other).size(), 1u);
  const std::vector<core::AlertPtr> same = {FixedAlert(1)};
  EXPECT_TRUE(partial.Undelivered(same).empty());
}

TEST(PartialDeliveriesTest, NeverHoldsMoreThanItsLimit) {
  PartialDeliveries partial(2);
  const std::vector<core::AlertPtr> batch = {FixedAlert(1), FixedAlert(2),
                                             FixedAlert(3)};
  for (const core::AlertPtr& a : batch) partial.Add(*a);
  // The third Add found two remembered and started over.
  EXPECT_EQ(Seqs(partial.Undelivered(batch)), (std::vector<uint64_t>{1, 2}));
}

}  // namespace
}  // namespace corral::outputs
