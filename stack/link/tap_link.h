// The link to the real network: a Linux TAP device (/dev/net/tun, IFF_TAP | IFF_NO_PI), one
// Ethernet frame per read()/write(). See Documentation/networking/tuntap.rst.
//
// With offloads (the default where the device allows), the TAP is opened with IFF_VNET_HDR:
// every frame carries a virtio-net header, so we can hand the kernel TCP segments of up to
// 64 KiB to cut up (TSO) with their checksum left for it to finish, and TUNSETOFFLOAD lets
// the kernel hand us its 64 KiB segments whole (with the checksum it vouches for). One
// syscall then moves ~44 segments instead of one: the per-frame syscall is what caps a TAP.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stack/buffer/buffer_pool.h"
#include "stack/link/link_endpoint.h"
#include "stack/runtime/stats.h"

namespace netshim {

class TapLink final : public LinkEndpoint {
 public:
  // Received frames are read at offset 0 of a pool block: inbound frames are only ever
  // narrowed (Consume) on the way up, never prepended to, so headroom would be wasted bytes.
  static constexpr size_t kRxHeadroom = 0;
  static constexpr size_t kEthernetHeader = 14;
  static constexpr size_t kVlanTag = 4;  // IEEE 802.1Q
  // Frames with more payload slices than this are flattened before writev (rare).
  static constexpr int kMaxIovecs = 16;
  // The longest frame a TAP hands us with TSO4 receive enabled: a 64 KiB IPv4 packet.
  static constexpr size_t kMaxGsoFrame = 65535 + kEthernetHeader + kVlanTag;
  // Blocks for large received frames: bounded like every pool (a drop when all are held).
  static constexpr size_t kLargeRxBlocks = 256;

  // Attaches to the TAP device `device`, or creates it when it does not exist. Creating
  // needs CAP_NET_ADMIN, which is checked first so that the error can say how to fix it. A
  // device we create is brought up, gets `mtu`, and goes away when the link is destroyed
  // (it is not persistent). `pool` blocks must hold mtu + 14 bytes (+ 4 for VLAN-tagged
  // frames of full size). `stats` may be null; RxErrors and RxNoBuffer are counted there.
  // `offload`: try IFF_VNET_HDR with TSO and checksum offload both ways; without it, or
  // where the kernel refuses, frames are plain (and any offloads a previous user left on
  // the device are switched off, so it never hands us frames longer than the MTU).
  static absl::StatusOr<std::unique_ptr<TapLink>> Open(const std::string& device, uint32_t mtu,
                                                       BufferPool* pool, LinkStats* stats,
                                                       bool offload = false);
  // Adopts `fd`, an already attached TAP queue (NETSHIM_TAP_FD, like QEMU's `tap,fd=`). It
  // must be a TAP opened with IFF_NO_PI. On success the link owns the fd (made O_NONBLOCK
  // and FD_CLOEXEC) and closes it; on failure the fd is left open and unchanged. Offloads are
  // used only if the fd was opened with IFF_VNET_HDR (and `offload` asks for them): the
  // header cannot be switched on once a queue is attached.
  static absl::StatusOr<std::unique_ptr<TapLink>> FromFd(int fd, uint32_t mtu, BufferPool* pool,
                                                         LinkStats* stats, bool offload = false);
  ~TapLink() override;
  TapLink(const TapLink&) = delete;
  TapLink& operator=(const TapLink&) = delete;

  uint32_t mtu() const override { return mtu_; }
  void Attach(FrameSink* sink) override { sink_ = sink; }
  // One writev() of the frame's slices. False for EAGAIN/ENOBUFS (the kernel's queue is
  // full), an oversized frame, or a device that is down or gone.
  bool Write(TxFrame frame) override;
  // Reads until EAGAIN or `budget` frames were read; frames dropped here (too long, or no
  // pool buffer free) count against the budget too, so one call stays bounded.
  size_t Poll(size_t budget) override;
  int ReadableFd() const override { return fd_; }
  LinkOffloads offloads() const override;

  // Frames carry a virtio-net header (IFF_VNET_HDR).
  bool vnet_header() const { return vnet_; }
  // The kernel may hand us 64 KiB TCP segments and partial checksums (TUNSETOFFLOAD).
  bool rx_offload() const { return rx_offload_; }

  const std::string& device_name() const { return device_; }
  // True when Open() created the device (it disappears with this link).
  bool created_device() const { return created_; }
  // Longest frame accepted: mtu + 14, or mtu + 18 when it carries a VLAN tag.
  size_t MaxFrameSize(const uint8_t* frame, size_t size) const;

 private:
  TapLink(int fd, std::string device, bool created, uint32_t mtu, BufferPool* pool,
          LinkStats* stats);
  // For an attached fd (after TUNSETIFF) whose frames carry a virtio-net header or not:
  // uses TSO, checksum offload and receive offloads when `offload` too, else switches the
  // device's receive offloads off.
  void EnableOffloads(bool vnet_header, bool offload);
  enum class ReadResult { kNothing, kDelivered, kDropped };
  // Reads one frame (after its virtio-net header when there is one) and delivers it.
  ReadResult ReadOneFrame();
  // The buffer the next frame is read into: the spare large block when receive offloads
  // are on (a small frame is then copied out into a pool block), else a pool block.
  PacketBuffer FrameBuffer(bool* large);
  // Keeps a large block that was read into but not passed up for the next read.
  void KeepSpare(PacketBuffer buf, bool large);
  // Reads and discards one frame when no pool buffer is free. False when nothing was waiting.
  bool DropOneFrame();
  // Logs a read/write error, only the first time for each errno so a gone device cannot
  // flood the log.
  void LogIoError(const char* what, int err);

  const int fd_;
  const std::string device_;
  const bool created_;
  const uint32_t mtu_;
  BufferPool* const pool_;
  LinkStats own_stats_;  // used when the caller passes no stats
  LinkStats* const stats_;
  FrameSink* sink_ = nullptr;
  std::vector<uint8_t> scratch_;  // for frames dropped for want of a buffer; grown on demand
  bool vnet_ = false;
  bool offload_ = false;  // TSO and checksum offload on transmit (needs vnet_)
  bool rx_offload_ = false;
  BufferPoolPtr large_pool_;  // kMaxGsoFrame blocks, with rx_offload_
  PacketBuffer spare_large_;  // the block the next read lands in
  int last_read_errno_ = 0;
  std::atomic<int> last_write_errno_{0};
};

}  // namespace netshim
