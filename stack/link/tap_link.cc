#include "stack/link/tap_link.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "stack/runtime/log.h"
#include "stack/runtime/unique_fd.h"
#include "stack/wire/virtio_net.h"

namespace netshim {
namespace {

constexpr const char* kTunPath = "/dev/net/tun";
// The longest frame a TAP can hand us (its MTU can be raised to 64K, and a GSO frame is a
// 64K IP packet) with its virtio-net header; the drop path reads into a scratch buffer this
// big so a frame of any size is consumed whole.
constexpr size_t kMaxTapFrame = 65536 + 18 + kVirtioNetHeaderSize;
// What we ask the kernel to hand us whole: partial checksums and TCP/IPv4 segments of up to
// 64 KiB (Linux tun set_offload: NETIF_F_HW_CSUM, NETIF_F_TSO).
constexpr unsigned kRxOffloadFlags = TUN_F_CSUM | TUN_F_TSO4;

// Linux: net/core/dev.c dev_valid_name(). Checked here so the error can name the problem
// instead of a bare EINVAL from TUNSETIFF.
absl::Status CheckDeviceName(const std::string& device) {
  if (device.empty()) return absl::InvalidArgumentError("TAP device name is empty");
  if (device.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(fmt::format(
        "TAP device name \"{}\" is too long: at most {} characters", device, IFNAMSIZ - 1));
  }
  if (device == "." || device == "..") {
    return absl::InvalidArgumentError(fmt::format("\"{}\" is not a device name", device));
  }
  for (char c : device) {
    if (c == '/' || c == ':' || c == '%' || c <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(fmt::format(
          "TAP device name \"{}\" may not contain '/', ':', '%', spaces or control characters",
          device));
    }
  }
  return absl::OkStatus();
}

// Whether this thread has CAP_NET_ADMIN in its effective set (what the kernel checks in
// tun_set_iff before creating a device).
bool HasNetAdmin() {
  cap_t caps = cap_get_proc();
  if (caps == nullptr) return false;
  cap_flag_value_t value = CAP_CLEAR;
  const bool ok = cap_get_flag(caps, CAP_NET_ADMIN, CAP_EFFECTIVE, &value) == 0;
  cap_free(caps);
  return ok && value == CAP_SET;
}

std::string UserName() {
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  return "$USER";
}

// Brings a device we created up, with our MTU, so the kernel side passes frames (a TAP that
// is down fails writes with EIO). Needs CAP_NET_ADMIN, which creating it already did.
absl::Status BringUp(const std::string& device, uint32_t mtu) {
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) {
    return absl::InternalError(
        fmt::format("socket() to configure {} failed: {}", device, std::strerror(errno)));
  }
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, device.c_str(), device.size());
  ifr.ifr_mtu = static_cast<int>(mtu);
  if (ioctl(sock.get(), SIOCSIFMTU, &ifr) < 0) {
    return absl::InvalidArgumentError(
        fmt::format("cannot set the MTU of {} to {}: {}", device, mtu, std::strerror(errno)));
  }
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0 ||
      (ifr.ifr_flags |= IFF_UP, ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0)) {
    return absl::InternalError(
        fmt::format("cannot bring TAP device {} up: {}", device, std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Warns about an existing device that cannot pass frames as it is: down, or with a larger
// MTU than ours (its frames would be dropped here as too long).
void CheckExistingDevice(const std::string& device, uint32_t mtu) {
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, device.c_str(), device.size());
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP) == 0) {
    NETSHIM_LOG(kWarn, "TAP device {} is down: no frames pass until `ip link set {} up`", device,
                device);
  }
  if (ioctl(sock.get(), SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > static_cast<int>(mtu)) {
    NETSHIM_LOG(kWarn,
                "TAP device {} has MTU {} but the stack uses {}: longer frames are dropped "
                "(`ip link set {} mtu {}`)",
                device, ifr.ifr_mtu, mtu, device, mtu);
  }
}

// Explains a TUNSETIFF failure: what is wrong and what to do about it.
absl::Status AttachError(const std::string& device, bool existed, int err) {
  const std::string why = std::strerror(err);
  if (existed && err == EPERM) {
    return absl::PermissionDeniedError(
        fmt::format("TAP device {} belongs to another user or group and this process lacks "
                    "CAP_NET_ADMIN: recreate it with `netshim-tap add {} --user {}` or run as root",
                    device, device, UserName()));
  }
  if (existed && err == EBUSY) {
    return absl::UnavailableError(fmt::format(
        "TAP device {} is in use: another process is attached to it (a single-queue TAP "
        "takes one reader); stop it or use another device",
        device));
  }
  if (existed && err == EINVAL) {
    return absl::FailedPreconditionError(fmt::format(
        "{} exists but is not a single-queue TAP device (it may be a TUN, a multi-queue TAP "
        "or another kind of interface): choose another name or recreate it with "
        "`netshim-tap add {} --user {}`",
        device, device, UserName()));
  }
  if (!existed && err == EPERM) {
    return absl::PermissionDeniedError(fmt::format(
        "TAP device {} does not exist and this process may not create it ({}): create it with "
        "`netshim-tap add {} --user {}` or run as root",
        device, why, device, UserName()));
  }
  return absl::UnavailableError(
      fmt::format("cannot attach to TAP device {}: TUNSETIFF failed: {}", device, why));
}

// Whether the TAP queue `fd` was attached with IFF_NO_PI. TUNGETIFF cannot say on its own:
// it also sets IFF_NOFILTER, the same bit (0x1000), whenever no socket filter is attached
// (Linux: drivers/net/tun.c __tun_chr_ioctl). With a filter attached the bit means IFF_NO_PI
// alone, so we attach one that accepts everything, ask, and take it off again. (A filter the
// fd's owner attached would be removed by this; nothing that hands us a TAP does that.)
absl::StatusOr<bool> HasNoPacketInfo(int fd, short reported_flags) {
  if ((reported_flags & IFF_NO_PI) == 0) return false;  // a filter is on, and no IFF_NO_PI
  sock_filter accept_all[] = {BPF_STMT(BPF_RET | BPF_K, 0xffffffff)};
  sock_fprog program{1, accept_all};
  if (ioctl(fd, TUNATTACHFILTER, &program) < 0) {
    return absl::InternalError(fmt::format(
        "cannot check the flags of TAP fd {} (TUNATTACHFILTER: {})", fd, std::strerror(errno)));
  }
  ifreq ifr{};
  const int rc = ioctl(fd, TUNGETIFF, &ifr);
  const int err = errno;
  ioctl(fd, TUNDETACHFILTER, &program);
  if (rc < 0) {
    return absl::InternalError(
        fmt::format("TUNGETIFF on TAP fd {} failed: {}", fd, std::strerror(err)));
  }
  return (ifr.ifr_flags & IFF_NO_PI) != 0;
}

absl::Status CheckPool(BufferPool* pool, uint32_t mtu) {
  if (pool == nullptr) return absl::InvalidArgumentError("TapLink needs a buffer pool");
  const size_t need = mtu + TapLink::kEthernetHeader + TapLink::kRxHeadroom;
  if (pool->block_size() < need) {
    return absl::InvalidArgumentError(
        fmt::format("buffer pool blocks of {} bytes cannot hold a frame of MTU {} ({} bytes)",
                    pool->block_size(), mtu, need));
  }
  return absl::OkStatus();
}

}  // namespace

TapLink::TapLink(int fd, std::string device, bool created, uint32_t mtu, BufferPool* pool,
                 LinkStats* stats)
    : fd_(fd),
      device_(std::move(device)),
      created_(created),
      mtu_(mtu),
      pool_(pool),
      stats_(stats != nullptr ? stats : &own_stats_) {}

TapLink::~TapLink() {
  // A device that outlives us must not keep handing 64 KiB frames to its next reader,
  // which may not read a virtio-net header.
  if (rx_offload_ && !created_) ioctl(fd_, TUNSETOFFLOAD, 0u);
  close(fd_);
}

void TapLink::EnableOffloads(bool vnet_header, bool offload) {
  // The header is a property of the fd (IFF_VNET_HDR): every frame carries one whether we
  // use offloads or not. Offloads are used only when asked for as well.
  vnet_ = vnet_header;
  offload_ = vnet_ && offload;
  if (vnet_) {
    int size = static_cast<int>(kVirtioNetHeaderSize);
    if (ioctl(fd_, TUNSETVNETHDRSZ, &size) < 0) {
      // The kernel's default is this size; only offloads are given up.
      NETSHIM_LOG(kWarn, "TAP {}: TUNSETVNETHDRSZ failed ({}): offloads off", device_,
                  std::strerror(errno));
      offload_ = false;
    }
  }
  // Without offloads, switch receive offloads off: a previous reader may have left them on,
  // and the kernel would hand us frames longer than the MTU.
  const unsigned flags = offload_ ? kRxOffloadFlags : 0u;
  if (ioctl(fd_, TUNSETOFFLOAD, flags) == 0) {
    rx_offload_ = offload_;
  } else {
    NETSHIM_LOG(kInfo, "TAP {}: TUNSETOFFLOAD failed ({}): frames arrive at the MTU", device_,
                std::strerror(errno));
  }
  if (rx_offload_) large_pool_ = BufferPool::Create(kMaxGsoFrame + kRxHeadroom, kLargeRxBlocks);
  NETSHIM_LOG(kInfo, "TAP {}: virtio-net header {}, receive offloads {}", device_,
              vnet_ ? (offload_ ? "on (TSO, checksum offload)" : "on (offloads not used)") : "off",
              rx_offload_ ? "on" : "off");
}

LinkOffloads TapLink::offloads() const {
  LinkOffloads o;
  if (offload_) {
    // Sending needs only the header: the kernel takes GSO frames from any TAP reader that
    // writes one (drivers/net/tun.c tun_get_user, virtio_net_hdr_to_skb).
    o.tx_checksum = true;
    o.tso_max_packet = 65535;
  }
  return o;
}

absl::StatusOr<std::unique_ptr<TapLink>> TapLink::Open(const std::string& device, uint32_t mtu,
                                                       BufferPool* pool, LinkStats* stats,
                                                       bool offload) {
  if (absl::Status s = CheckDeviceName(device); !s.ok()) return s;
  if (absl::Status s = CheckPool(pool, mtu); !s.ok()) return s;

  const bool existed = if_nametoindex(device.c_str()) != 0;
  if (!existed && !HasNetAdmin()) {
    return absl::PermissionDeniedError(fmt::format(
        "TAP device {} does not exist and this process lacks CAP_NET_ADMIN: create it with "
        "`netshim-tap add {} --user {}` or run as root",
        device, device, UserName()));
  }

  UniqueFd fd(open(kTunPath, O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENODEV || err == ENXIO) {
      return absl::UnavailableError(fmt::format(
          "cannot open {}: {}: the tun driver is missing (`modprobe tun`, or in a container "
          "pass the device in with --device /dev/net/tun)",
          kTunPath, std::strerror(err)));
    }
    return absl::PermissionDeniedError(fmt::format(
        "cannot open {}: {}: it must be readable and writable by this user (usually mode 0666)",
        kTunPath, std::strerror(err)));
  }

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, device.c_str(), device.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;  // Ethernet frames, no 4-byte packet-info prefix
  if (offload) ifr.ifr_flags |= IFF_VNET_HDR;
  if (ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return AttachError(device, existed, errno);

  if (!existed) {
    if (absl::Status s = BringUp(device, mtu); !s.ok()) return s;  // fd closes: device goes
    NETSHIM_LOG(kInfo, "created TAP device {} (mtu {}); it goes away when netshim exits", device,
                mtu);
  } else {
    CheckExistingDevice(device, mtu);
  }
  std::unique_ptr<TapLink> link(new TapLink(fd.release(), device, !existed, mtu, pool, stats));
  link->EnableOffloads(offload, offload);
  return link;
}

absl::StatusOr<std::unique_ptr<TapLink>> TapLink::FromFd(int fd, uint32_t mtu, BufferPool* pool,
                                                         LinkStats* stats, bool offload) {
  if (absl::Status s = CheckPool(pool, mtu); !s.ok()) return s;
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0) {
    return absl::InvalidArgumentError(
        fmt::format("TAP fd {} is not an open file descriptor: {}", fd, std::strerror(errno)));
  }
  ifreq ifr{};
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
    return absl::InvalidArgumentError(
        fmt::format("fd {} is not a TAP device attached to an interface (TUNGETIFF: {})", fd,
                    std::strerror(errno)));
  }
  std::string device(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  if ((ifr.ifr_flags & IFF_TAP) == 0) {
    return absl::InvalidArgumentError(fmt::format(
        "fd {} is attached to {}, a TUN (layer 3) device: netshim needs a TAP", fd, device));
  }
  absl::StatusOr<bool> no_pi = HasNoPacketInfo(fd, ifr.ifr_flags);
  if (!no_pi.ok()) return no_pi.status();
  if (!*no_pi) {
    return absl::InvalidArgumentError(fmt::format(
        "fd {} (TAP {}) was opened without IFF_NO_PI: frames would carry a 4-byte prefix", fd,
        device));
  }
  if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    return absl::InternalError(
        fmt::format("cannot set flags on TAP fd {}: {}", fd, std::strerror(errno)));
  }
  CheckExistingDevice(device, mtu);
  std::unique_ptr<TapLink> link(new TapLink(fd, device, false, mtu, pool, stats));
  link->EnableOffloads((ifr.ifr_flags & IFF_VNET_HDR) != 0, offload);
  return link;
}

size_t TapLink::MaxFrameSize(const uint8_t* frame, size_t size) const {
  // 802.1Q and 802.1ad tags add 4 bytes in front of the EtherType (IEEE 802.1Q-2018 9.3).
  const bool tagged = size >= kEthernetHeader && ((frame[12] == 0x81 && frame[13] == 0x00) ||
                                                  (frame[12] == 0x88 && frame[13] == 0xa8));
  return mtu_ + kEthernetHeader + (tagged ? kVlanTag : 0);
}

void TapLink::LogIoError(const char* what, int err) {
  NETSHIM_LOG(kError, "TAP {}: {} failed: {}", device_, what, std::strerror(err));
}

bool TapLink::DropOneFrame() {
  if (scratch_.empty()) scratch_.resize(kMaxTapFrame);
  const ssize_t n = TEMP_FAILURE_RETRY(read(fd_, scratch_.data(), scratch_.size()));
  return n >= 0;
}

PacketBuffer TapLink::FrameBuffer(bool* large) {
  *large = false;
  if (rx_offload_) {
    if (!spare_large_) spare_large_ = large_pool_->Allocate(kRxHeadroom);
    if (spare_large_) {
      *large = true;
      return std::move(spare_large_);
    }
  }
  return pool_->Allocate(kRxHeadroom);
}

void TapLink::KeepSpare(PacketBuffer buf, bool large) {
  if (!large) return;
  buf.SetWindow(kRxHeadroom, 0);
  spare_large_ = std::move(buf);
}

TapLink::ReadResult TapLink::ReadOneFrame() {
  bool large = false;
  PacketBuffer buf = FrameBuffer(&large);
  if (!buf) {
    // Out of buffers: take the frame off the queue anyway, or the fd stays readable and
    // the dispatcher spins; the peer sees a loss, as with a NIC whose ring is full.
    if (!DropOneFrame()) return ReadResult::kNothing;
    stats_->RxNoBuffer.Inc();
    return ReadResult::kDropped;
  }
  uint8_t header_bytes[kVirtioNetHeaderSize];
  iovec iov[2];
  int count = 0;
  if (vnet_) iov[count++] = {header_bytes, sizeof(header_bytes)};
  const size_t room = buf.tailroom();
  iov[count++] = {buf.data(), room};
  const ssize_t n = TEMP_FAILURE_RETRY(readv(fd_, iov, count));
  if (n < 0) {
    const int err = errno;
    if (err != EAGAIN && err != EWOULDBLOCK && err != last_read_errno_) {
      LogIoError("read", err);
      last_read_errno_ = err;
    }
    KeepSpare(std::move(buf), large);
    return ReadResult::kNothing;
  }
  size_t size = static_cast<size_t>(n);
  VirtioNetHeader header;
  if (vnet_) {
    if (size < kVirtioNetHeaderSize) {
      stats_->RxErrors.Inc();
      KeepSpare(std::move(buf), large);
      return ReadResult::kDropped;
    }
    size -= kVirtioNetHeaderSize;
    header = VirtioNetHeader::Parse(std::span<const uint8_t, kVirtioNetHeaderSize>(header_bytes));
  }
  const RxOffloadVerdict verdict =
      vnet_ ? ClassifyRxOffload(header, size) : RxOffloadVerdict::kPlain;
  const bool gso = header.gso_type != VirtioNetHeader::kGsoNone;
  // tun returns a frame's full length even when it had to cut it to fit (Linux:
  // drivers/net/tun.c tun_put_user), so size > room means a truncated frame. GSO frames
  // (only with receive offloads on) may be as long as a 64 KiB packet.
  const size_t limit = gso && rx_offload_ ? kMaxGsoFrame : MaxFrameSize(buf.data(), size);
  if (verdict == RxOffloadVerdict::kDrop || size > room || size > limit) {
    stats_->RxErrors.Inc();
    NETSHIM_LOG(kDebug, "TAP {}: dropped a {}-byte frame (mtu {}, gso type {})", device_, size,
                mtu_, header.gso_type);
    KeepSpare(std::move(buf), large);
    return ReadResult::kDropped;
  }
  buf.Append(size);
  if (large && size + kRxHeadroom <= pool_->block_size()) {
    // A small frame in a 64 KiB block: copy it out (cheap at this size) so the large block
    // is not held by an ACK sitting in some queue.
    if (PacketBuffer small = pool_->Allocate(kRxHeadroom)) {
      std::memcpy(small.Append(size), buf.data(), size);
      KeepSpare(std::move(buf), true);
      buf = std::move(small);
    }
  }
  if (verdict == RxOffloadVerdict::kChecksumTrusted) {
    buf.MarkChecksumTrusted();
    stats_->RxChecksumTrusted.Inc();
  }
  if (gso) stats_->RxGsoFrames.Inc();
  if (sink_ != nullptr) sink_->DeliverFrame(std::move(buf));
  return ReadResult::kDelivered;
}

size_t TapLink::Poll(size_t budget) {
  size_t delivered = 0;
  for (size_t i = 0; i < budget; ++i) {
    const ReadResult result = ReadOneFrame();
    if (result == ReadResult::kNothing) break;
    if (result == ReadResult::kDelivered) ++delivered;
  }
  return delivered;
}

bool TapLink::Write(TxFrame frame) {
  const size_t size = frame.size();
  const TxOffload& offload = frame.offload;
  const bool gso = offload.gso_size != 0;
  // Offloads were asked of a link that never offered them: nothing would finish the work.
  if ((gso || offload.needs_checksum) && !vnet_) return false;
  // The tag is looked for in the head, where the stack puts every header.
  const size_t limit = gso ? kMaxGsoFrame : MaxFrameSize(frame.head.data(), frame.head.size());
  if (size < kEthernetHeader || size > limit) return false;
  uint8_t header_bytes[kVirtioNetHeaderSize];
  iovec iov[kMaxIovecs + 1];
  int count = 0;
  if (vnet_) {
    VirtioNetHeader::ForTransmit(offload, frame.head.size())
        .Write(std::span<uint8_t, kVirtioNetHeaderSize>(header_bytes));
    iov[count++] = {header_bytes, sizeof(header_bytes)};
  }
  std::vector<uint8_t> flat;
  if (frame.payload.size() + 1 > static_cast<size_t>(kMaxIovecs)) {
    flat = frame.Flatten();  // more slices than we pass to writev: rare, so copy
    iov[count++] = {flat.data(), flat.size()};
  } else {
    count += frame.ToIovec(iov + count, kMaxIovecs);
  }
  const ssize_t n = TEMP_FAILURE_RETRY(writev(fd_, iov, count));
  if (n < 0) {
    const int err = errno;
    // EAGAIN/ENOBUFS: the kernel's backlog is full; the caller counts the drop. Anything else
    // (EIO: the device is down; EINVAL: a header the kernel refused) is logged once per errno.
    if (err != EAGAIN && err != EWOULDBLOCK && err != ENOBUFS &&
        last_write_errno_.exchange(err, std::memory_order_relaxed) != err) {
      LogIoError("write", err);
    }
    return false;
  }
  return static_cast<size_t>(n) == size + (vnet_ ? kVirtioNetHeaderSize : 0);
}

}  // namespace netshim
