// PortIndex: entries grouped by port in insertion order, found and removed by id.
#include "stack/transport/port_index.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace netshim {
namespace {

struct Entry {
  uint64_t id;
  int tag;
};

std::vector<uint64_t> IdsOn(const PortIndex<Entry>& index, uint16_t port) {
  std::vector<uint64_t> ids;
  if (const auto* entries = index.OnPort(port)) {
    for (const Entry& e : *entries) ids.push_back(e.id);
  }
  return ids;
}

TEST(PortIndexTest, EntriesStayInInsertionOrderAcrossRemovals) {
  PortIndex<Entry> index;
  for (uint64_t id = 1; id <= 6; ++id) index.Add(id % 2 == 0 ? 80 : 443, Entry{id, 0});
  index.Remove(4);
  index.Remove(1);
  index.Add(80, Entry{7, 0});
  EXPECT_EQ(IdsOn(index, 80), (std::vector<uint64_t>{2, 6, 7}));
  EXPECT_EQ(IdsOn(index, 443), (std::vector<uint64_t>{3, 5}));
  EXPECT_EQ(index.size(), 5u);
}

TEST(PortIndexTest, FindGivesTheEntryItselfAndPortOfItsPort) {
  PortIndex<Entry> index;
  index.Add(80, Entry{1, 10});
  index.Add(80, Entry{2, 20});
  Entry* e = index.Find(2);
  ASSERT_NE(e, nullptr);
  e->tag = 21;  // written through, as PortTable's SetReuse and SetAddress do
  EXPECT_EQ(index.OnPort(80)->back().tag, 21);
  EXPECT_EQ(index.PortOf(2), 80);
  EXPECT_EQ(index.Find(3), nullptr);
  EXPECT_EQ(index.PortOf(3), std::nullopt);
}

TEST(PortIndexTest, APortIsFreeOnceItsLastEntryGoes) {
  PortIndex<Entry> index;
  index.Add(80, Entry{1, 0});
  index.Add(80, Entry{2, 0});
  index.Remove(1);
  EXPECT_TRUE(index.InUse(80));
  index.Remove(2);
  EXPECT_FALSE(index.InUse(80));
  EXPECT_EQ(index.OnPort(80), nullptr);
  index.Remove(2);  // unknown ids are ignored
  EXPECT_EQ(index.size(), 0u);
}

// Many ports make the map rehash (moving the per-port lists) while ids point into them;
// every entry must still be found and removable afterwards.
TEST(PortIndexTest, IdsSurviveTheMapGrowing) {
  PortIndex<Entry> index;
  constexpr uint64_t kCount = 20000;
  for (uint64_t id = 1; id <= kCount; ++id) {
    index.Add(static_cast<uint16_t>(id % 5000), Entry{id, static_cast<int>(id)});
  }
  for (uint64_t id = 1; id <= kCount; id += 3) {
    Entry* e = index.Find(id);
    ASSERT_NE(e, nullptr) << id;
    EXPECT_EQ(e->tag, static_cast<int>(id));
    index.Remove(id);
  }
  size_t left = 0;
  for (uint16_t port = 0; port < 5000; ++port) {
    uint64_t last = 0;
    for (uint64_t id : IdsOn(index, port)) {
      EXPECT_NE(id % 3, 1u);
      EXPECT_EQ(id % 5000, port);
      EXPECT_GT(id, last);  // still oldest first
      last = id;
      ++left;
    }
  }
  EXPECT_EQ(left, index.size());
  EXPECT_EQ(left, kCount - (kCount + 2) / 3);
}

}  // namespace
}  // namespace netshim
