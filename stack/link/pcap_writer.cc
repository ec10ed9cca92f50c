#include "stack/link/pcap_writer.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "stack/runtime/log.h"
#include "stack/wire/virtio_net.h"

namespace netshim {
namespace {

// The classic pcap headers (pcap-savefile(5)), in host byte order.
struct FileHeader {
  uint32_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  int32_t thiszone;
  uint32_t sigfigs;
  uint32_t snaplen;
  uint32_t linktype;
};
static_assert(sizeof(FileHeader) == PcapWriter::kFileHeaderSize);

struct RecordHeader {
  uint32_t ts_sec;
  uint32_t ts_nsec;
  uint32_t incl_len;
  uint32_t orig_len;
};
static_assert(sizeof(RecordHeader) == PcapWriter::kRecordHeaderSize);

// Writes all of iov, resuming after short writes and EINTR. False on error (errno set).
bool WriteAll(int fd, iovec* iov, int iovcnt) {
  while (iovcnt > 0) {
    ssize_t n = writev(fd, iov, iovcnt);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    size_t done = static_cast<size_t>(n);
    while (iovcnt > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      ++iov;
      --iovcnt;
    }
    if (iovcnt > 0) {
      iov->iov_base = static_cast<uint8_t*>(iov->iov_base) + done;
      iov->iov_len -= done;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PcapWriter>> PcapWriter::Open(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        fmt::format("cannot create pcap file {}: {}", path, std::strerror(errno)));
  }
  FileHeader header{kMagicNanos, kVersionMajor, kVersionMinor, 0, 0, kSnapLen, kLinkTypeEthernet};
  iovec iov{&header, sizeof(header)};
  if (!WriteAll(fd, &iov, 1)) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(
        fmt::format("cannot write pcap file {}: {}", path, std::strerror(err)));
  }
  return std::unique_ptr<PcapWriter>(new PcapWriter(fd, path));
}

PcapWriter::~PcapWriter() { close(fd_); }

void PcapWriter::Record(std::span<const uint8_t> frame) {
  iovec iov{const_cast<uint8_t*>(frame.data()), std::min<size_t>(frame.size(), kSnapLen)};
  WriteRecord(frame.size(), &iov, iov.iov_len > 0 ? 1 : 0);
}

void PcapWriter::Record(const TxFrame& frame) {
  if (frame.offload.needs_checksum) {
    // The link finishes this checksum after us; the capture shows it finished, as the
    // wire will (a TSO frame stays one record, as tcpdump shows it on Linux).
    std::vector<uint8_t> flat = frame.Flatten();
    CompletePartialChecksum(flat, frame.offload.csum_start, frame.offload.csum_offset);
    Record(flat);
    return;
  }
  const size_t size = frame.size();
  std::array<iovec, 16> iov;
  const bool fits = frame.payload.size() + 1 <= iov.size() && size <= kSnapLen;
  if (!fits) {
    // Many slices or a frame to cut: rare enough to flatten.
    Record(frame.Flatten());
    return;
  }
  WriteRecord(size, iov.data(), frame.ToIovec(iov.data(), static_cast<int>(iov.size())));
}

void PcapWriter::WriteRecord(size_t size, const iovec* data, int count) {
  timespec now;
  std::array<iovec, 17> iov;
  size_t captured = 0;
  for (int i = 0; i < count; ++i) {
    iov[static_cast<size_t>(i) + 1] = data[i];
    captured += data[i].iov_len;
  }
  absl::MutexLock lock(&mu_);
  if (failed_) {
    ++errors_;
    return;
  }
  // Stamped under the lock so that the file's records are in time order.
  clock_gettime(CLOCK_REALTIME, &now);
  // pcap's 32-bit seconds wrap in 2106; the cast is what every writer does.
  RecordHeader header{static_cast<uint32_t>(now.tv_sec), static_cast<uint32_t>(now.tv_nsec),
                      static_cast<uint32_t>(captured), static_cast<uint32_t>(size)};
  iov[0] = {&header, sizeof(header)};
  if (!WriteAll(fd_, iov.data(), count + 1)) {
    NETSHIM_LOG(kError, "pcap {}: write failed ({}); capture stopped", path_, std::strerror(errno));
    failed_ = true;
    ++errors_;
    return;
  }
  ++records_;
}

uint64_t PcapWriter::records() const {
  absl::MutexLock lock(&mu_);
  return records_;
}

uint64_t PcapWriter::errors() const {
  absl::MutexLock lock(&mu_);
  return errors_;
}

}  // namespace netshim
