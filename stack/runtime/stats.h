// Counters per layer, named as Linux names them in /proc/net/snmp and /proc/net/netstat
// (InReceives, InHdrErrors, ReasmFails, ...), so they can be read side by side with `nstat`.
// Link and ARP counters follow the names of `ip -s link` and the kernel's neighbour stats.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace netshim {

class Counter {
 public:
  void Inc() { v_.fetch_add(1, std::memory_order_relaxed); }
  void Add(uint64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

#define NETSHIM_DECLARE_COUNTER(name) Counter name;
#define NETSHIM_VISIT_COUNTER(name) f(std::string_view(#name), name.value());
#define NETSHIM_COUNTER_GROUP(Type, LIST) \
  struct Type {                           \
    LIST(NETSHIM_DECLARE_COUNTER)         \
    template <typename F>                 \
    void ForEach(F&& f) const {           \
      LIST(NETSHIM_VISIT_COUNTER)         \
    }                                     \
  };

#define NETSHIM_LINK_COUNTERS(X)                                                                  \
  X(RxFrames)                                                                                     \
  X(RxBytes) X(RxErrors) X(RxNoBuffer) X(RxUnknownEtherType) X(RxNotForUs) X(TxFrames) X(TxBytes) \
      X(TxErrors) X(TxGsoFrames) X(TxChecksumOffloaded) X(RxGsoFrames) X(RxChecksumTrusted)
NETSHIM_COUNTER_GROUP(LinkStats, NETSHIM_LINK_COUNTERS)

#define NETSHIM_ARP_COUNTERS(X)                                                        \
  X(InRequests)                                                                        \
  X(InReplies) X(InErrors) X(InNotForUs) X(OutRequests) X(OutReplies) X(OutGratuitous) \
      X(ResolutionFailures) X(UnresolvedDiscards) X(AddressConflicts)
NETSHIM_COUNTER_GROUP(ArpStats, NETSHIM_ARP_COUNTERS)

// RFC 4293 / /proc/net/snmp "Ip:" names; then the loopback device's own (Linux keeps them as
// `ip -s link show lo` counters): datagrams queued to ourselves, their bytes, and those dropped
// because the queue was full (lo's rx_dropped, netdev_max_backlog).
#define NETSHIM_IP_COUNTERS(X)                                                                    \
  X(InReceives)                                                                                   \
  X(InHdrErrors) X(InCsumErrors) X(InAddrErrors) X(InUnknownProtos) X(InTruncatedPkts)            \
      X(InDiscards) X(InDelivers) X(OutRequests) X(OutDiscards) X(OutNoRoutes) X(ReasmTimeout)    \
          X(ReasmReqds) X(ReasmOKs) X(ReasmFails) X(ReasmOverlaps) X(ReasmMemoryDrops) X(FragOKs) \
              X(FragFails) X(FragCreates) X(LoopbackPackets) X(LoopbackBytes) X(LoopbackDrops)
NETSHIM_COUNTER_GROUP(IpStats, NETSHIM_IP_COUNTERS)

// /proc/net/snmp "Icmp:" names.
#define NETSHIM_ICMP_COUNTERS(X)                                                             \
  X(InMsgs)                                                                                  \
  X(InErrors) X(InCsumErrors) X(InDestUnreachs) X(InTimeExcds) X(InParmProbs) X(InEchos)     \
      X(InEchoReps) X(OutMsgs) X(OutErrors) X(OutRateLimited) X(OutDestUnreachs) X(OutEchos) \
          X(OutEchoReps)
NETSHIM_COUNTER_GROUP(IcmpStats, NETSHIM_ICMP_COUNTERS)

// /proc/net/snmp "Udp:" names. As in Linux, InDatagrams counts datagrams read by the
// application (udp_recvmsg), not those queued.
#define NETSHIM_UDP_COUNTERS(X)                                                          \
  X(InDatagrams)                                                                         \
  X(NoPorts) X(InErrors) X(OutDatagrams) X(RcvbufErrors) X(SndbufErrors) X(InCsumErrors) \
      X(IgnoredMulti)
NETSHIM_COUNTER_GROUP(UdpStats, NETSHIM_UDP_COUNTERS)

// /proc/net/snmp "Tcp:" names, then /proc/net/netstat "TcpExt:" names for what Linux counts
// there (SYN cookies, listen overflows, aborts, recovery, delayed ACKs, ...).
#define NETSHIM_TCP_COUNTERS(X)                                                                   \
  X(ActiveOpens)                                                                                  \
  X(PassiveOpens) X(AttemptFails) X(EstabResets) X(InSegs) X(OutSegs) X(RetransSegs) X(InErrs)    \
      X(OutRsts) X(InCsumErrors) X(SyncookiesSent) X(SyncookiesRecv) X(SyncookiesFailed)          \
          X(ListenOverflows) X(ListenDrops) X(TCPTimeouts) X(TCPFastRetrans) X(TCPSackRecovery)   \
              X(TCPRenoRecovery) X(TCPLossProbes) X(DelayedACKs) X(TCPAbortOnData)                \
                  X(TCPAbortOnClose) X(TCPAbortOnTimeout) X(TCPAbortOnLinger) X(TCPChallengeACK) \
                      X(PAWSEstab) X(TCPOFOQueue) X(TCPOFODrop) X(TCPRcvQDrop) X(TW)              \
                          X(TCPTimeWaitOverflow) X(TCPKeepAliveProbes) X(TCPWindowProbes)       \
                              X(TCPDSACKRecv) X(TCPSACKReneging) X(OutOfWindowIcmps)
NETSHIM_COUNTER_GROUP(TcpStats, NETSHIM_TCP_COUNTERS)

struct StackStats {
  LinkStats link;
  ArpStats arp;
  IpStats ip;
  IcmpStats icmp;
  UdpStats udp;
  TcpStats tcp;

  // Calls f(group, name, value) for every counter, in a stable order.
  template <typename F>
  void ForEach(F&& f) const {
    link.ForEach([&](std::string_view n, uint64_t v) { f("Link", n, v); });
    arp.ForEach([&](std::string_view n, uint64_t v) { f("Arp", n, v); });
    ip.ForEach([&](std::string_view n, uint64_t v) { f("Ip", n, v); });
    icmp.ForEach([&](std::string_view n, uint64_t v) { f("Icmp", n, v); });
    udp.ForEach([&](std::string_view n, uint64_t v) { f("Udp", n, v); });
    tcp.ForEach([&](std::string_view n, uint64_t v) { f("Tcp", n, v); });
  }
  // "Group Name Value" lines, aligned; zero counters are left out unless `all`.
  std::string FormatTable(bool all = false) const;
};

}  // namespace netshim
