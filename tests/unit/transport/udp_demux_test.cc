// UDP socket lookup: Linux's scoring (exact address, connected peer), ties, SO_REUSEPORT
// spreading, and broadcast fan-out.
#include "stack/transport/udp/udp_demux.h"

#include <map>
#include <set>

#include "gtest/gtest.h"

namespace netshim {
namespace {

const Ipv4Address kAny = Ipv4Address::Any();
const Ipv4Address kUs = *Ipv4Address::Parse("198.18.0.2");
const Ipv4Address kBcast = *Ipv4Address::Parse("198.18.0.255");
const Ipv4Address kPeer = *Ipv4Address::Parse("198.18.0.1");
const Ipv4Address kOther = *Ipv4Address::Parse("198.18.0.7");

UdpEndpointKey Bound(Ipv4Address local, uint16_t port, bool reuse_port = false) {
  UdpEndpointKey k;
  k.local = local;
  k.local_port = port;
  k.reuse_port = reuse_port;
  return k;
}

UdpEndpointKey Connected(Ipv4Address local, uint16_t port, Ipv4Address remote,
                         uint16_t remote_port) {
  UdpEndpointKey k = Bound(local, port);
  k.remote = remote;
  k.remote_port = remote_port;
  k.connected = true;
  return k;
}

TEST(UdpDemuxTest, NothingBoundFindsNothing) {
  UdpDemux d;
  EXPECT_EQ(d.Lookup(kPeer, 1, kUs, 53), UdpDemux::kNone);
  d.Insert(1, Bound(kAny, 54));
  EXPECT_EQ(d.Lookup(kPeer, 1, kUs, 53), UdpDemux::kNone);
  EXPECT_TRUE(d.LookupAll(kPeer, 1, kBcast, 53).empty());
}

TEST(UdpDemuxTest, ExactAddressBeatsWildcardWhateverTheOrder) {
  for (bool wildcard_first : {true, false}) {
    UdpDemux d;
    if (wildcard_first) d.Insert(1, Bound(kAny, 53));
    d.Insert(2, Bound(kUs, 53));
    if (!wildcard_first) d.Insert(1, Bound(kAny, 53));
    EXPECT_EQ(d.Lookup(kPeer, 999, kUs, 53), 2u);
    // A datagram to another of our addresses (the broadcast one) only matches the wildcard.
    EXPECT_EQ(d.Lookup(kPeer, 999, kBcast, 53), 1u);
  }
}

TEST(UdpDemuxTest, ConnectedPeerBeatsUnconnected) {
  UdpDemux d;
  d.Insert(1, Connected(kUs, 5000, kPeer, 7000));
  d.Insert(2, Bound(kUs, 5000));
  d.Insert(3, Connected(kUs, 5000, kPeer, 0));  // connect() to port 0: the address only
  EXPECT_EQ(d.Lookup(kPeer, 7000, kUs, 5000), 1u) << "address and port: +8";
  EXPECT_EQ(d.Lookup(kPeer, 7001, kUs, 5000), 3u) << "address only: +4";
  EXPECT_EQ(d.Lookup(kOther, 7000, kUs, 5000), 2u) << "connected sockets hear only their peer";
  d.Remove(2);
  EXPECT_EQ(d.Lookup(kOther, 7000, kUs, 5000), UdpDemux::kNone);
}

TEST(UdpDemuxTest, TiesGoToTheNewest) {
  UdpDemux d;
  d.Insert(1, Bound(kAny, 9));
  d.Insert(2, Bound(kAny, 9));
  EXPECT_EQ(d.Lookup(kPeer, 1, kUs, 9), 2u);
  d.Remove(2);
  EXPECT_EQ(d.Lookup(kPeer, 1, kUs, 9), 1u);
}

TEST(UdpDemuxTest, UpdateKeepsAgeAndMovesPorts) {
  UdpDemux d;
  d.Insert(1, Bound(kAny, 9));
  d.Insert(2, Bound(kAny, 9));
  d.Update(1, Connected(kUs, 9, kPeer, 1));
  EXPECT_EQ(d.Lookup(kPeer, 1, kUs, 9), 1u);
  d.Update(1, Bound(kAny, 9));
  EXPECT_EQ(d.Lookup(kPeer, 1, kUs, 9), 2u) << "1 is still the older of the two";
  d.Update(1, Bound(kAny, 10));
  EXPECT_EQ(d.Lookup(kPeer, 1, kUs, 10), 1u);
  EXPECT_EQ(d.size(), 2u);
}

TEST(UdpDemuxTest, ReusePortSpreadsFlowsAndKeepsEachOnOneSocket) {
  UdpDemux d;
  for (UdpDemux::Id id = 1; id <= 4; ++id) d.Insert(id, Bound(kAny, 443, true));
  std::map<UdpDemux::Id, int> hits;
  for (uint16_t sport = 1000; sport < 1400; ++sport) {
    const UdpDemux::Id id = d.Lookup(kPeer, sport, kUs, 443);
    ASSERT_NE(id, UdpDemux::kNone);
    EXPECT_EQ(d.Lookup(kPeer, sport, kUs, 443), id) << "a flow sticks to its socket";
    ++hits[id];
  }
  ASSERT_EQ(hits.size(), 4u) << "every member gets flows";
  for (auto [id, n] : hits) EXPECT_GT(n, 40) << "socket " << id;
  // A connected member is outside the selection, and wins for its own peer.
  d.Update(3, Connected(kUs, 443, kPeer, 1000));
  EXPECT_EQ(d.Lookup(kPeer, 1000, kUs, 443), 3u);
  for (uint16_t sport = 1001; sport < 1100; ++sport) {
    EXPECT_NE(d.Lookup(kPeer, sport, kUs, 443), 3u);
  }
}

TEST(UdpDemuxTest, BroadcastGoesToEveryMatchingSocket) {
  UdpDemux d;
  d.Insert(1, Bound(kAny, 67));
  d.Insert(2, Bound(kUs, 67));  // a unicast-bound socket does not hear broadcasts
  d.Insert(3, Bound(kBcast, 67));
  d.Insert(4, Connected(kUs, 67, kOther, 68));
  d.Insert(5, Bound(kAny, 67, true));
  d.Insert(6, Bound(kAny, 68));
  EXPECT_EQ(d.LookupAll(kPeer, 68, kBcast, 67), (UdpDemux::IdList{1, 3, 5}));
  EXPECT_EQ(d.LookupAll(kPeer, 68, Ipv4Address::Broadcast(), 67), (UdpDemux::IdList{1, 5}));
  EXPECT_EQ(d.LookupAll(kOther, 68, kUs, 67), (UdpDemux::IdList{1, 2, 4, 5}));
}

}  // namespace
}  // namespace netshim
