// Writes frames to a classic pcap file that tcpdump, Wireshark and tshark read.
//
// Format choice: the nanosecond variant of classic pcap (magic 0xa1b23c4d, written in host
// byte order as libpcap does), LINKTYPE_ETHERNET, snaplen 262144 (libpcap's maximum).
// Nanoseconds because frames on a fast link arrive well within one microsecond of each other;
// every reader since libpcap 1.5 understands the magic.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "stack/buffer/tx_frame.h"

namespace netshim {

class PcapWriter {
 public:
  static constexpr uint32_t kMagicNanos = 0xa1b23c4d;
  static constexpr uint16_t kVersionMajor = 2;
  static constexpr uint16_t kVersionMinor = 4;
  static constexpr uint32_t kSnapLen = 262144;
  static constexpr uint32_t kLinkTypeEthernet = 1;
  static constexpr size_t kFileHeaderSize = 24;
  static constexpr size_t kRecordHeaderSize = 16;

  // Creates (or truncates) `path` and writes the file header.
  static absl::StatusOr<std::unique_ptr<PcapWriter>> Open(const std::string& path);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  // Appends one record stamped with CLOCK_REALTIME. Safe from any thread; records never
  // interleave. Each record is one write(2) straight to the file (no user-space buffer), so
  // a crash of the process loses nothing already recorded. Frames longer than the snaplen are
  // cut, keeping their original length in the header, as libpcap does.
  void Record(const TxFrame& frame);
  void Record(std::span<const uint8_t> frame);

  // Records written, and records lost to write errors (after the first error the writer
  // stops, so that a partly written record cannot garble everything after it).
  uint64_t records() const;
  uint64_t errors() const;
  const std::string& path() const { return path_; }

 private:
  PcapWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  // Writes the record header for `size` bytes followed by `iov` (the captured bytes).
  void WriteRecord(size_t size, const struct iovec* iov, int iovcnt);

  const int fd_;
  const std::string path_;
  mutable absl::Mutex mu_;
  uint64_t records_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace netshim
