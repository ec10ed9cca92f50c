// Port reservations: Linux's bind conflict rules for UDP and TCP, the ephemeral range, and
// TCP's connect/accept/listen uses.
#include "stack/transport/port_table.h"

#include <cerrno>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace netshim {
namespace {

const Ipv4Address kAny = Ipv4Address::Any();
const Ipv4Address kA = *Ipv4Address::Parse("198.18.0.2");
const Ipv4Address kB = *Ipv4Address::Parse("198.18.0.3");

struct Flags {
  bool reuse_addr = false;
  bool reuse_port = false;
};

// Binds `first` then `second` on port 5000; the second's result.
int SecondBind(PortTable::Protocol protocol, Ipv4Address a1, Flags f1, Ipv4Address a2, Flags f2) {
  PortTable t(protocol);
  PortTable::Id id1, id2;
  EXPECT_EQ(t.Bind({a1, 5000, f1.reuse_addr, f1.reuse_port}, &id1), 5000);
  return t.Bind({a2, 5000, f2.reuse_addr, f2.reuse_port}, &id2);
}

TEST(PortTableTest, OverlappingAddressesConflict) {
  const auto udp = PortTable::Protocol::kUdp;
  EXPECT_EQ(SecondBind(udp, kA, {}, kA, {}), -EADDRINUSE);
  EXPECT_EQ(SecondBind(udp, kAny, {}, kA, {}), -EADDRINUSE);
  EXPECT_EQ(SecondBind(udp, kA, {}, kAny, {}), -EADDRINUSE);
  EXPECT_EQ(SecondBind(udp, kAny, {}, kAny, {}), -EADDRINUSE);
  EXPECT_EQ(SecondBind(udp, kA, {}, kB, {}), 5000) << "distinct addresses never overlap";
}

TEST(PortTableTest, UdpReuseNeedsBothSides) {
  const auto udp = PortTable::Protocol::kUdp;
  const Flags none, ra{true, false}, rp{false, true};
  EXPECT_EQ(SecondBind(udp, kAny, ra, kA, ra), 5000);
  EXPECT_EQ(SecondBind(udp, kAny, rp, kA, rp), 5000);
  EXPECT_EQ(SecondBind(udp, kAny, rp, kAny, rp), 5000);
  EXPECT_EQ(SecondBind(udp, kAny, ra, kA, none), -EADDRINUSE);
  EXPECT_EQ(SecondBind(udp, kAny, none, kA, ra), -EADDRINUSE);
  EXPECT_EQ(SecondBind(udp, kAny, ra, kA, rp), -EADDRINUSE) << "one flag each is no match";
  EXPECT_EQ(SecondBind(udp, kAny, rp, kA, none), -EADDRINUSE);
}

TEST(PortTableTest, ReleaseFreesThePort) {
  PortTable t(PortTable::Protocol::kUdp);
  PortTable::Id id, id2;
  ASSERT_EQ(t.Bind({kA, 7000}, &id), 7000);
  EXPECT_EQ(t.CountOnPort(7000), 1u);
  t.Release(id);
  t.Release(id);  // twice is harmless
  EXPECT_EQ(t.CountOnPort(7000), 0u);
  EXPECT_EQ(t.Bind({kA, 7000}, &id2), 7000);
  EXPECT_EQ(t.size(), 1u);
}

TEST(PortTableTest, FlagsChangedAfterBindCount) {
  PortTable t(PortTable::Protocol::kUdp);
  PortTable::Id id1, id2;
  ASSERT_EQ(t.Bind({kAny, 6000}, &id1), 6000);
  EXPECT_EQ(t.Bind({kA, 6000, true}, &id2), -EADDRINUSE);
  t.SetReuse(id1, true, false);
  EXPECT_EQ(t.Bind({kA, 6000, true}, &id2), 6000);
}

TEST(PortTableTest, SetAddressNarrowsTheBinding) {
  PortTable t(PortTable::Protocol::kUdp);
  PortTable::Id id1, id2;
  ASSERT_EQ(t.Bind({kAny, 6000}, &id1), 6000);
  EXPECT_EQ(t.Bind({kB, 6000}, &id2), -EADDRINUSE);
  t.SetAddress(id1, kA);
  EXPECT_EQ(t.Bind({kB, 6000}, &id2), 6000);
}

TEST(PortTableTest, EphemeralPortsComeFromTheRangeAndAreDistinct) {
  PortTable t(PortTable::Protocol::kUdp);
  EXPECT_EQ(t.range().low, 32768);
  EXPECT_EQ(t.range().high, 60999);
  std::set<int> seen;
  for (int i = 0; i < 500; ++i) {
    PortTable::Id id;
    const int port = t.Bind({kAny, 0}, &id);
    ASSERT_GE(port, 32768);
    ASSERT_LE(port, 60999);
    EXPECT_TRUE(seen.insert(port).second) << port;
  }
}

TEST(PortTableTest, EphemeralStartIsRandom) {
  std::set<int> firsts;
  for (int i = 0; i < 8; ++i) {
    PortTable t(PortTable::Protocol::kUdp);
    PortTable::Id id;
    firsts.insert(t.Bind({kAny, 0}, &id));
  }
  EXPECT_GT(firsts.size(), 1u) << "eight tables all started at the same port";
}

TEST(PortTableTest, EphemeralSkipsPortsInUseEvenWithReuse) {
  PortTable t(PortTable::Protocol::kUdp, {40000, 40003});
  PortTable::Id id;
  ASSERT_EQ(t.Bind({kAny, 40000, true, true}, &id), 40000);
  ASSERT_EQ(t.Bind({kB, 40002}, &id), 40002);
  std::set<int> got;
  for (int i = 0; i < 2; ++i) got.insert(t.Bind({kA, 0, true, true}, &id));
  EXPECT_EQ(got, (std::set<int>{40001, 40003}));
}

TEST(PortTableTest, ExhaustedRangeSaysAddrInUse) {
  PortTable t(PortTable::Protocol::kUdp, {50000, 50009});
  std::vector<PortTable::Id> ids;
  for (int i = 0; i < 10; ++i) {
    PortTable::Id id;
    ASSERT_GT(t.Bind({kAny, 0}, &id), 0);
    ids.push_back(id);
  }
  PortTable::Id id;
  EXPECT_EQ(t.Bind({kAny, 0}, &id), -EADDRINUSE);
  EXPECT_EQ(t.Bind({kA, 0}, &id), -EADDRINUSE) << "a specific address needs a free port too";
  t.Release(ids[3]);
  const int port = t.Bind({kAny, 0}, &id);
  EXPECT_GE(port, 50000);
  EXPECT_LE(port, 50009);
  EXPECT_EQ(t.Bind({kAny, 0}, &id), -EADDRINUSE);
}

TEST(PortTableTest, InvertedRangeIsTakenTheRightWayRound) {
  PortTable t(PortTable::Protocol::kUdp, {50001, 50000});
  EXPECT_EQ(t.range().low, 50000);
  EXPECT_EQ(t.range().high, 50001);
  PortTable zero(PortTable::Protocol::kUdp, {0, 0});
  PortTable::Id id;
  EXPECT_EQ(zero.Bind({kAny, 0}, &id), 1) << "port 0 is never handed out";
}

TEST(PortTableTest, TcpListenerBlocksReuseAddr) {
  const auto tcp = PortTable::Protocol::kTcp;
  PortTable t(tcp);
  PortTable::Id a, b, c;
  ASSERT_EQ(t.Bind({kAny, 80, true}, &a), 80);
  ASSERT_EQ(t.Bind({kA, 80, true}, &b), 80) << "neither listens: SO_REUSEADDR shares";
  EXPECT_EQ(t.SetListening(a, true), 0);
  EXPECT_EQ(t.SetListening(b, true), -EADDRINUSE) << "a listener is already there";
  EXPECT_EQ(t.Bind({kA, 80, true}, &c), -EADDRINUSE) << "nor can a third bind";
  t.SetListening(a, false);
  EXPECT_EQ(t.SetListening(b, true), 0);
  // UDP has no listeners: the same sequence passes.
  PortTable u(PortTable::Protocol::kUdp);
  ASSERT_EQ(u.Bind({kAny, 80, true}, &a), 80);
  ASSERT_EQ(u.SetListening(a, true), 0);
  EXPECT_EQ(u.Bind({kA, 80, true}, &b), 80);
}

TEST(PortTableTest, TcpReusePortListenersShare) {
  PortTable t(PortTable::Protocol::kTcp);
  PortTable::Id a, b;
  ASSERT_EQ(t.Bind({kAny, 443, false, true}, &a), 443);
  ASSERT_EQ(t.SetListening(a, true), 0);
  ASSERT_EQ(t.Bind({kAny, 443, false, true}, &b), 443);
  EXPECT_EQ(t.SetListening(b, true), 0);
}

TEST(PortTableTest, ConnectSharesPortsOnlyWithOtherConnections) {
  PortTable t(PortTable::Protocol::kTcp, {41000, 41001});
  PortTable::Id bound, c1, c2, c3;
  ASSERT_EQ(t.Bind({kAny, 41000}, &bound), 41000);
  // Only 41001 is eligible; the first connection takes it.
  EXPECT_EQ(t.BindForConnect(
                kA, [](uint16_t) { return true; }, &c1),
            41001);
  // A second one may share it when the 4-tuple differs, never the bind()-owned 41000.
  std::vector<uint16_t> asked;
  EXPECT_EQ(t.BindForConnect(
                kA,
                [&](uint16_t p) {
                  asked.push_back(p);
                  return true;
                },
                &c2),
            41001);
  EXPECT_EQ(asked, std::vector<uint16_t>{41001});
  EXPECT_EQ(t.BindForConnect(
                kA, [](uint16_t) { return false; }, &c3),
            -EADDRNOTAVAIL);
  // bind() to a port connections hold conflicts as usual.
  PortTable::Id b2;
  EXPECT_EQ(t.Bind({kAny, 41001}, &b2), -EADDRINUSE);
}

TEST(PortTableTest, AcceptedConnectionsInheritTheListenersPort) {
  PortTable t(PortTable::Protocol::kTcp);
  PortTable::Id listener, child, other;
  ASSERT_EQ(t.Bind({kAny, 8080}, &listener), 8080);
  ASSERT_EQ(t.SetListening(listener, true), 0);
  child = t.Inherit(listener, kA);
  ASSERT_NE(child, PortTable::kNoId);
  EXPECT_EQ(t.CountOnPort(8080), 2u);
  t.Release(listener);
  EXPECT_EQ(t.Bind({kAny, 8080}, &other), -EADDRINUSE) << "the child still holds it";
  t.Release(child);
  EXPECT_EQ(t.Bind({kAny, 8080}, &other), 8080);
  EXPECT_EQ(t.Inherit(12345, kA), PortTable::kNoId);
}

TEST(PortTableTest, ConcurrentEphemeralBindsNeverCollide) {
  PortTable t(PortTable::Protocol::kUdp, {20000, 20999});
  std::vector<std::vector<int>> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&t, &out = got[i]] {
      for (int k = 0; k < 250; ++k) {
        PortTable::Id id;
        out.push_back(t.Bind({kAny, 0}, &id));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<int> all;
  for (const auto& v : got) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_EQ(*all.begin(), 20000);
  EXPECT_EQ(*all.rbegin(), 20999);
}

}  // namespace
}  // namespace netshim
