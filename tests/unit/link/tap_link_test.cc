// TAP tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN for unshare) and skip without it. Each
// runs on a thread of its own in a fresh network namespace: namespaces and capabilities are
// per thread in Linux, so the rest of the test binary and the host are untouched, and the
// devices vanish with the namespace when the thread ends.
#include "stack/link/tap_link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netshim {
namespace {

using Bytes = std::vector<uint8_t>;
using ::testing::HasSubstr;

constexpr uint16_t kTestEtherType = 0x88b5;  // IEEE 802 local experimental

class CollectingSink : public FrameSink {
 public:
  void DeliverFrame(PacketBuffer frame) override { frames.push_back(std::move(frame)); }
  // Frames of our test EtherType (the kernel sends IPv6 chatter on a fresh device too).
  std::vector<Bytes> Ours() const {
    std::vector<Bytes> out;
    for (const PacketBuffer& f : frames) {
      if (f.size() >= 14 && f.data()[12] == (kTestEtherType >> 8) &&
          f.data()[13] == (kTestEtherType & 0xff)) {
        out.emplace_back(f.data(), f.data() + f.size());
      }
    }
    return out;
  }
  std::vector<PacketBuffer> frames;
};

Bytes TestFrame(size_t size, uint8_t fill, uint16_t ether_type = kTestEtherType) {
  Bytes f(size, fill);
  std::memset(f.data(), 0xff, 6);  // broadcast
  const uint8_t src[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
  std::memcpy(f.data() + 6, src, 6);
  f[12] = static_cast<uint8_t>(ether_type >> 8);
  f[13] = static_cast<uint8_t>(ether_type);
  return f;
}

// Runs `body` in a fresh network namespace on its own thread. Returns false (with `why`) if
// that is impossible here.
bool RunInFreshNetns(const std::function<void()>& body, std::string* why) {
  if (geteuid() != 0) {
    *why = "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create TAP devices in a namespace";
    return false;
  }
  bool ran = false;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      *why = std::string("unshare(CLONE_NEWNET) failed: ") + std::strerror(errno);
      return;
    }
    ran = true;
    body();
  });
  t.join();
  return ran;
}

// Variadic: the lambda's commas would split a one-parameter macro's argument.
#define RUN_IN_NETNS(...)                                         \
  do {                                                            \
    std::string why;                                              \
    if (!RunInFreshNetns(__VA_ARGS__, &why)) GTEST_SKIP() << why; \
  } while (0)

// An AF_PACKET socket on `device` seeing frames of kTestEtherType that the kernel receives
// from the TAP (ETH_P_ALL would also show our own transmissions).
int PacketSocket(const std::string& device) {
  int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(kTestEtherType));
  if (s < 0) return -1;
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(kTestEtherType);
  sll.sll_ifindex = static_cast<int>(if_nametoindex(device.c_str()));
  if (bind(s, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) {
    close(s);
    return -1;
  }
  return s;
}

bool SendOnDevice(int packet_socket, const std::string& device, const Bytes& frame) {
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = static_cast<int>(if_nametoindex(device.c_str()));
  to.sll_halen = 6;
  std::memcpy(to.sll_addr, frame.data(), 6);
  return sendto(packet_socket, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to),
                sizeof(to)) == static_cast<ssize_t>(frame.size());
}

// Polls the link (waiting on its fd, not sleeping) until `want` test frames arrived or 5s.
void PollUntil(TapLink& link, CollectingSink& sink, size_t want) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (sink.Ours().size() < want) {
    if (absl::Now() > deadline) return;
    pollfd p{link.ReadableFd(), POLLIN, 0};
    poll(&p, 1, 100);
    link.Poll(16);
  }
}

int SetMtu(const std::string& device, int mtu) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, device.c_str(), IFNAMSIZ - 1);
  ifr.ifr_mtu = mtu;
  int rc = ioctl(s, SIOCSIFMTU, &ifr);
  close(s);
  return rc;
}

// A raw TAP fd attached to `device` with `flags`, optionally made persistent and owned.
int RawTap(const std::string& device, short flags, bool persist = false, int owner = -1) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, device.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = flags;
  if (ioctl(fd, TUNSETIFF, &ifr) != 0 || (owner >= 0 && ioctl(fd, TUNSETOWNER, owner) != 0) ||
      (persist && ioctl(fd, TUNSETPERSIST, 1) != 0)) {
    close(fd);
    return -1;
  }
  return fd;
}

void DropNetAdminFromThisThread() {
  cap_t caps = cap_get_proc();
  cap_value_t v = CAP_NET_ADMIN;
  ASSERT_EQ(cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_CLEAR), 0);
  ASSERT_EQ(cap_set_proc(caps), 0);
  cap_free(caps);
}

TEST(TapLinkTest, FramesFlowBothWaysThroughACreatedDevice) {
  RUN_IN_NETNS([] {
    auto pool = BufferPool::Create(2048, 64);
    LinkStats stats;
    auto link = TapLink::Open("nstest0", 1500, pool.get(), &stats);
    ASSERT_TRUE(link.ok()) << link.status();
    EXPECT_TRUE((*link)->created_device());
    EXPECT_EQ((*link)->device_name(), "nstest0");
    EXPECT_EQ((*link)->mtu(), 1500u);
    const int fd = (*link)->ReadableFd();
    EXPECT_NE(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    CollectingSink sink;
    (*link)->Attach(&sink);

    int ps = PacketSocket("nstest0");
    ASSERT_GE(ps, 0) << std::strerror(errno);

    // Stack -> kernel, in two slices as the stack writes them (header + payload).
    Bytes out = TestFrame(1514, 0xab);
    TxFrame tx(PacketBuffer::CopyOf(std::span(out).first(34)));
    tx.payload.push_back(PacketBuffer::CopyOf(std::span(out).subspan(34)));
    ASSERT_TRUE((*link)->Write(std::move(tx))) << "the created device must be up";
    Bytes got(4000);
    pollfd p{ps, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    ssize_t n = recv(ps, got.data(), got.size(), 0);
    ASSERT_EQ(n, 1514);
    got.resize(static_cast<size_t>(n));
    EXPECT_EQ(got, out);

    // Kernel -> stack.
    Bytes in = TestFrame(200, 0xcd);
    ASSERT_TRUE(SendOnDevice(ps, "nstest0", in)) << std::strerror(errno);
    PollUntil(**link, sink, 1);
    ASSERT_EQ(sink.Ours().size(), 1u);
    EXPECT_EQ(sink.Ours()[0], in);
    EXPECT_EQ(sink.frames.back().headroom(), TapLink::kRxHeadroom);
    EXPECT_EQ(stats.RxErrors.value(), 0u);
    EXPECT_EQ(stats.RxFrames.value(), 0u) << "frame counting is the NIC's job";
    close(ps);
  });
}

TEST(TapLinkTest, OversizedFramesAreDroppedAndCountedButVlanGetsFourBytes) {
  RUN_IN_NETNS([] {
    auto pool = BufferPool::Create(2048, 64);
    LinkStats stats;
    auto link = TapLink::Open("nstest1", 1000, pool.get(), &stats);
    ASSERT_TRUE(link.ok()) << link.status();
    CollectingSink sink;
    (*link)->Attach(&sink);
    // Our writes are bounded by our MTU.
    EXPECT_FALSE((*link)->Write(TxFrame(PacketBuffer::CopyOf(TestFrame(1015, 0)))));
    EXPECT_FALSE((*link)->Write(TxFrame(PacketBuffer::CopyOf(Bytes(10, 0)))));
    // Let the kernel send more than we accept.
    ASSERT_EQ(SetMtu("nstest1", 1500), 0);
    int ps = PacketSocket("nstest1");
    ASSERT_GE(ps, 0);
    Bytes tagged = TestFrame(1018, 0x11, 0x8100);
    tagged[16] = kTestEtherType >> 8;  // the inner EtherType after the tag
    tagged[17] = kTestEtherType & 0xff;
    ASSERT_TRUE(SendOnDevice(ps, "nstest1", TestFrame(1015, 0x22)));  // too long
    ASSERT_TRUE(SendOnDevice(ps, "nstest1", tagged));                 // tagged: fits
    ASSERT_TRUE(SendOnDevice(ps, "nstest1", TestFrame(1014, 0x33)));  // fits
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    size_t tagged_seen = 0;
    while (absl::Now() < deadline && (sink.Ours().size() < 1 || tagged_seen < 1)) {
      pollfd p{(*link)->ReadableFd(), POLLIN, 0};
      poll(&p, 1, 100);
      (*link)->Poll(16);
      tagged_seen = 0;
      for (const PacketBuffer& f : sink.frames) tagged_seen += f.size() == 1018;
    }
    EXPECT_EQ(tagged_seen, 1u);
    ASSERT_EQ(sink.Ours().size(), 1u);
    EXPECT_EQ(sink.Ours()[0], TestFrame(1014, 0x33));
    EXPECT_EQ(stats.RxErrors.value(), 1u);
    close(ps);
  });
}

TEST(TapLinkTest, AnExhaustedPoolDropsAndCountsRxNoBuffer) {
  RUN_IN_NETNS([] {
    auto pool = BufferPool::Create(1600, 1);
    LinkStats stats;
    auto link = TapLink::Open("nstest2", 1500, pool.get(), &stats);
    ASSERT_TRUE(link.ok()) << link.status();
    CollectingSink sink;  // keeps every frame, so the one block stays taken
    (*link)->Attach(&sink);
    int ps = PacketSocket("nstest2");
    ASSERT_GE(ps, 0);
    // The kernel may have queued IPv6 chatter first and taken the block: drain it away.
    PacketBuffer held = pool->Allocate(0);
    ASSERT_TRUE(held);
    (*link)->Poll(64);
    const uint64_t before = stats.RxNoBuffer.value();
    ASSERT_TRUE(SendOnDevice(ps, "nstest2", TestFrame(100, 1)));
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (stats.RxNoBuffer.value() == before && absl::Now() < deadline) {
      pollfd p{(*link)->ReadableFd(), POLLIN, 0};
      poll(&p, 1, 100);
      (*link)->Poll(16);
    }
    EXPECT_GT(stats.RxNoBuffer.value(), before);
    EXPECT_TRUE(sink.Ours().empty());
    pollfd p{(*link)->ReadableFd(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 0) << "dropped frames are taken off the queue";
    // With the block back, frames flow again.
    held.Reset();
    ASSERT_TRUE(SendOnDevice(ps, "nstest2", TestFrame(100, 2)));
    PollUntil(**link, sink, 1);
    EXPECT_EQ(sink.Ours().size(), 1u);
    close(ps);
  });
}

TEST(TapLinkTest, FromFdAdoptsAnAttachedTap) {
  RUN_IN_NETNS([] {
    auto pool = BufferPool::Create(2048, 64);
    int fd = RawTap("nstest3", IFF_TAP | IFF_NO_PI);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    auto link = TapLink::FromFd(fd, 1500, pool.get(), nullptr);
    ASSERT_TRUE(link.ok()) << link.status();
    EXPECT_EQ((*link)->device_name(), "nstest3");
    EXPECT_FALSE((*link)->created_device());
    EXPECT_EQ((*link)->ReadableFd(), fd);
    EXPECT_NE(fcntl(fd, F_GETFL) & O_NONBLOCK, 0) << "made non-blocking";
    EXPECT_EQ((*link)->Poll(8), 0u) << "never blocks";
    link->reset();
    EXPECT_EQ(fcntl(fd, F_GETFD), -1) << "the link owns and closes the fd";
  });
}

TEST(TapLinkTest, FromFdWithAVnetHeaderUsesOffloadsOnlyWhenAskedTo) {
  // The header comes with the fd (IFF_VNET_HDR, as netshim-isolate or QEMU-style launchers
  // open it); NETSHIM_OFFLOAD=off must still mean MTU-sized frames checksummed here.
  RUN_IN_NETNS([] {
    auto pool = BufferPool::Create(2048, 64);
    for (const bool offload : {false, true}) {
      int fd = RawTap("nstest7", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
      ASSERT_GE(fd, 0) << std::strerror(errno);
      auto link = TapLink::FromFd(fd, 1500, pool.get(), nullptr, offload);
      ASSERT_TRUE(link.ok()) << link.status();
      EXPECT_TRUE((*link)->vnet_header());
      EXPECT_EQ((*link)->rx_offload(), offload);
      EXPECT_EQ((*link)->offloads().tx_checksum, offload);
      EXPECT_EQ((*link)->offloads().tso_max_packet, offload ? 65535u : 0u);
    }
  });
}

TEST(TapLinkTest, FromFdRejectsTunAndPacketInfoFdsAndLeavesThemOpen) {
  RUN_IN_NETNS([] {
    auto pool = BufferPool::Create(2048, 4);
    int tun = RawTap("nstun0", IFF_TUN | IFF_NO_PI);
    ASSERT_GE(tun, 0);
    auto link = TapLink::FromFd(tun, 1500, pool.get(), nullptr);
    ASSERT_FALSE(link.ok());
    EXPECT_THAT(std::string(link.status().message()), HasSubstr("TUN (layer 3)"));
    EXPECT_NE(fcntl(tun, F_GETFD), -1) << "left open on failure";
    close(tun);

    int pi = RawTap("nstest4", IFF_TAP);
    ASSERT_GE(pi, 0);
    link = TapLink::FromFd(pi, 1500, pool.get(), nullptr);
    ASSERT_FALSE(link.ok());
    EXPECT_THAT(std::string(link.status().message()), HasSubstr("IFF_NO_PI"));
    close(pi);

    int unattached = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    ASSERT_GE(unattached, 0);
    link = TapLink::FromFd(unattached, 1500, pool.get(), nullptr);
    ASSERT_FALSE(link.ok());
    EXPECT_THAT(std::string(link.status().message()), HasSubstr("not a TAP device attached"));
    close(unattached);
  });
}

TEST(TapLinkTest, FromFdRejectsFdsThatAreNoTap) {
  auto pool = BufferPool::Create(2048, 4);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  auto link = TapLink::FromFd(fds[0], 1500, pool.get(), nullptr);
  ASSERT_FALSE(link.ok());
  EXPECT_THAT(std::string(link.status().message()), HasSubstr("is not a TAP device"));
  close(fds[0]);
  close(fds[1]);
  link = TapLink::FromFd(fds[0], 1500, pool.get(), nullptr);
  ASSERT_FALSE(link.ok());
  EXPECT_THAT(std::string(link.status().message()), HasSubstr("not an open file descriptor"));
}

TEST(TapLinkTest, BadNamesAndSmallPoolsAreRejectedBeforeTouchingTheKernel) {
  auto pool = BufferPool::Create(2048, 4);
  for (const char* name : {"", "averyveryverylongname", "a/b", "a b", "tap%d", ".", ".."}) {
    auto link = TapLink::Open(name, 1500, pool.get(), nullptr);
    ASSERT_FALSE(link.ok()) << name;
    EXPECT_EQ(link.status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
  auto small = BufferPool::Create(1000, 4);
  auto link = TapLink::Open("tapx", 1500, small.get(), nullptr);
  ASSERT_FALSE(link.ok());
  EXPECT_THAT(std::string(link.status().message()), HasSubstr("1000 bytes"));
  EXPECT_FALSE(TapLink::Open("tapx", 1500, nullptr, nullptr).ok());
}

TEST(TapLinkTest, MissingCapabilityForANewDeviceSaysHowToFixIt) {
  RUN_IN_NETNS([] {
    auto pool = BufferPool::Create(2048, 4);
    DropNetAdminFromThisThread();
    auto link = TapLink::Open("nsmissing0", 1500, pool.get(), nullptr);
    ASSERT_FALSE(link.ok());
    EXPECT_EQ(link.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(std::string(link.status().message()),
                HasSubstr("TAP device nsmissing0 does not exist and this process lacks "
                          "CAP_NET_ADMIN: create it with `netshim-tap add nsmissing0 --user "));
    EXPECT_THAT(std::string(link.status().message()), HasSubstr("or run as root"));
    EXPECT_EQ(if_nametoindex("nsmissing0"), 0u) << "nothing was created";
  });
}

TEST(TapLinkTest, AnExistingDeviceIsAttachedWithoutCapabilitiesAndExplainsConflicts) {
  RUN_IN_NETNS([] {
    auto pool = BufferPool::Create(2048, 4);
    // Provision as netshim-tap would: persistent, no owner, then give up the fd.
    int fd = RawTap("nsexist0", IFF_TAP | IFF_NO_PI, /*persist=*/true);
    ASSERT_GE(fd, 0);
    close(fd);
    int owned = RawTap("nsowned0", IFF_TAP | IFF_NO_PI, /*persist=*/true, /*owner=*/12345);
    ASSERT_GE(owned, 0);
    close(owned);
    int tun = RawTap("nstun1", IFF_TUN | IFF_NO_PI, /*persist=*/true);
    ASSERT_GE(tun, 0);
    close(tun);

    DropNetAdminFromThisThread();
    auto link = TapLink::Open("nsexist0", 1500, pool.get(), nullptr);
    ASSERT_TRUE(link.ok()) << link.status();
    EXPECT_FALSE((*link)->created_device());

    auto second = TapLink::Open("nsexist0", 1500, pool.get(), nullptr);
    ASSERT_FALSE(second.ok());
    EXPECT_THAT(std::string(second.status().message()), HasSubstr("is in use"));

    auto other = TapLink::Open("nsowned0", 1500, pool.get(), nullptr);
    ASSERT_FALSE(other.ok());
    EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(std::string(other.status().message()),
                HasSubstr("belongs to another user or group"));

    auto wrong = TapLink::Open("nstun1", 1500, pool.get(), nullptr);
    ASSERT_FALSE(wrong.ok());
    EXPECT_THAT(std::string(wrong.status().message()),
                HasSubstr("is not a single-queue TAP device"));
    link->reset();
    EXPECT_NE(if_nametoindex("nsexist0"), 0u) << "a device we did not create stays";
    // The namespace, and the persistent devices in it, go away with this thread.
  });
}

}  // namespace
}  // namespace netshim
