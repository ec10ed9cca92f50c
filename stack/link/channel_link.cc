#include "stack/link/channel_link.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <optional>

#include "stack/link/software_gso.h"
#include "stack/runtime/log.h"

namespace netshim {
namespace {

// Ethernet II: mtu bytes of payload after a 14-byte header, 4 more for an 802.1Q tag.
bool FitsMtu(const std::vector<uint8_t>& frame, uint32_t mtu) {
  if (frame.size() <= mtu + 14u) return true;
  const bool tagged = frame.size() >= 14 && ((frame[12] == 0x81 && frame[13] == 0x00) ||
                                             (frame[12] == 0x88 && frame[13] == 0xa8));
  return tagged && frame.size() <= mtu + 18u;
}

}  // namespace

class ChannelLink::Inbox {
 public:
  Inbox() : event_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (event_fd_ < 0) {
      // Without it nothing can wait on the link; a test environment out of fds is broken.
      NETSHIM_LOG(kError, "ChannelLink: eventfd failed: errno {}", errno);
      std::abort();
    }
  }
  ~Inbox() { close(event_fd_); }
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  int fd() const { return event_fd_; }

  bool Push(PacketBuffer frame) {
    absl::MutexLock lock(&mu_);
    if (frames_.size() >= kInboundCap) {
      drops_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    frames_.push_back(std::move(frame));
    if (frames_.size() == 1) Signal();
    return true;
  }

  // Moves up to `budget` frames to `out`; clears the eventfd when the queue runs empty.
  void Pop(size_t budget, std::vector<PacketBuffer>* out) {
    absl::MutexLock lock(&mu_);
    while (budget-- > 0 && !frames_.empty()) {
      out->push_back(std::move(frames_.front()));
      frames_.pop_front();
    }
    if (frames_.empty() && !out->empty()) Drain();
  }

  size_t size() const {
    absl::MutexLock lock(&mu_);
    return frames_.size();
  }
  uint64_t drops() const { return drops_.load(std::memory_order_relaxed); }

 private:
  void Signal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t one = 1;
    // Cannot fail short of a counter overflow, which Drain() prevents.
    [[maybe_unused]] ssize_t n = write(event_fd_, &one, sizeof(one));
  }
  void Drain() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    uint64_t value;
    [[maybe_unused]] ssize_t n = read(event_fd_, &value, sizeof(value));
  }

  const int event_fd_;
  mutable absl::Mutex mu_;
  std::deque<PacketBuffer> frames_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> drops_{0};
};

ChannelLink::ChannelLink(uint32_t mtu) : mtu_(mtu), inbox_(std::make_shared<Inbox>()) {}

std::pair<std::unique_ptr<ChannelLink>, std::unique_ptr<ChannelLink>> ChannelLink::CreatePair(
    uint32_t mtu) {
  auto a = std::make_unique<ChannelLink>(mtu);
  auto b = std::make_unique<ChannelLink>(mtu);
  a->peer_inbox_ = b->inbox_;
  b->peer_inbox_ = a->inbox_;
  return {std::move(a), std::move(b)};
}

void ChannelLink::Inject(std::span<const uint8_t> frame) {
  inbox_->Push(PacketBuffer::CopyOf(frame));
}

std::vector<std::vector<uint8_t>> ChannelLink::TakeSent() {
  absl::MutexLock lock(&mu_);
  std::vector<std::vector<uint8_t>> out(std::make_move_iterator(sent_.begin()),
                                        std::make_move_iterator(sent_.end()));
  sent_.clear();
  return out;
}

size_t ChannelLink::sent_count() const {
  absl::MutexLock lock(&mu_);
  return sent_.size();
}

uint64_t ChannelLink::total_sent() const {
  absl::MutexLock lock(&mu_);
  return total_sent_;
}

size_t ChannelLink::pending() const { return inbox_->size(); }

uint64_t ChannelLink::inbound_drops() const { return inbox_->drops(); }

uint64_t ChannelLink::tx_rejected() const {
  absl::MutexLock lock(&mu_);
  return tx_rejected_;
}

bool ChannelLink::Write(TxFrame frame) {
  const TxOffload offload = frame.offload;
  if (offload.needs_checksum || offload.gso_size != 0) {
    // Act as the offloading NIC we claimed to be: what goes on the wire is finished.
    const bool asked =
        offload.gso_size != 0 ? offloads_.tso_max_packet != 0 : offloads_.tx_checksum;
    const bool fits = frame.size() <= offloads_.tso_max_packet + 18 || offload.gso_size == 0;
    std::optional<std::vector<std::vector<uint8_t>>> wire;
    if (asked && fits) wire = ApplyOffloads(frame.Flatten(), offload);
    if (!wire) {
      absl::MutexLock lock(&mu_);
      ++tx_rejected_;
      return false;
    }
    {
      absl::MutexLock lock(&mu_);
      if (offload.gso_size != 0) ++gso_frames_;
    }
    bool ok = true;
    for (std::vector<uint8_t>& bytes : *wire) ok = WriteFlat(std::move(bytes)) && ok;
    return ok;
  }
  return WriteFlat(frame.Flatten());
}

uint64_t ChannelLink::gso_frames() const {
  absl::MutexLock lock(&mu_);
  return gso_frames_;
}

bool ChannelLink::WriteFlat(std::vector<uint8_t> bytes) {
  bool ok = FitsMtu(bytes, mtu_);
  if (ok && peer_inbox_ != nullptr) {
    ok = peer_inbox_->Push(PacketBuffer::CopyOf(bytes));
  }
  absl::MutexLock lock(&mu_);
  if (ok && peer_inbox_ == nullptr) {
    if (sent_.size() < kSentCap) {
      sent_.push_back(std::move(bytes));
    } else {
      ok = false;
    }
  }
  if (ok) {
    ++total_sent_;
  } else {
    ++tx_rejected_;
  }
  return ok;
}

size_t ChannelLink::Poll(size_t budget) {
  std::vector<PacketBuffer> frames;
  inbox_->Pop(budget, &frames);
  // Delivered without the lock: the sink may well write a reply on this very link.
  for (PacketBuffer& frame : frames) {
    if (sink_ != nullptr) sink_->DeliverFrame(std::move(frame));
  }
  return frames.size();
}

int ChannelLink::ReadableFd() const { return inbox_->fd(); }

}  // namespace netshim
