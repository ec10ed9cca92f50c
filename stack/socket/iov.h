// Copying between the caller's iovecs (sendmsg/recvmsg) and the stack's buffers.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>

namespace netshim {

// The total of the iovec lengths, saturating (Linux caps it too).
inline size_t IovTotalLength(std::span<const iovec> data) {
  size_t total = 0;
  for (const iovec& v : data) {
    if (v.iov_len > std::numeric_limits<size_t>::max() - total) {
      return std::numeric_limits<size_t>::max();
    }
    total += v.iov_len;
  }
  return total;
}

// Reads the caller's iovecs front to back.
class IovReader {
 public:
  explicit IovReader(std::span<const iovec> data) : data_(data) {}
  // Copies the next n bytes (the caller knows they are there).
  void Read(uint8_t* out, size_t n) {
    while (n > 0) {
      const iovec& v = data_[index_];
      const size_t take = std::min(n, v.iov_len - offset_);
      std::memcpy(out, static_cast<const uint8_t*>(v.iov_base) + offset_, take);
      out += take;
      n -= take;
      offset_ += take;
      if (offset_ == v.iov_len) ++index_, offset_ = 0;
    }
  }

 private:
  std::span<const iovec> data_;
  size_t index_ = 0;
  size_t offset_ = 0;
};

// Writes into the caller's iovecs front to back.
class IovWriter {
 public:
  explicit IovWriter(std::span<const iovec> data) : data_(data) {}
  // Copies as much of `bytes` as fits; returns the count copied.
  size_t Write(std::span<const uint8_t> bytes) {
    size_t done = 0;
    while (done < bytes.size() && index_ < data_.size()) {
      const iovec& v = data_[index_];
      const size_t take = std::min(bytes.size() - done, v.iov_len - offset_);
      if (take > 0) {
        std::memcpy(static_cast<uint8_t*>(v.iov_base) + offset_, bytes.data() + done, take);
      }
      done += take;
      offset_ += take;
      if (offset_ == v.iov_len) ++index_, offset_ = 0;
    }
    written_ += done;
    return done;
  }
  size_t written() const { return written_; }

 private:
  std::span<const iovec> data_;
  size_t index_ = 0;
  size_t offset_ = 0;
  size_t written_ = 0;
};

// Copies `bytes` into the iovecs as far as they reach; returns the count copied.
inline size_t CopyToIov(std::span<const uint8_t> bytes, std::span<const iovec> data) {
  IovWriter writer(data);
  return writer.Write(bytes);
}

}  // namespace netshim
