#include "shim/batch_ops.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <memory>
#include <optional>

#include "absl/time/time.h"
#include "shim/fd_ops.h"
#include "shim/real_calls.h"
#include "shim/socket_ops.h"
#include "shim/waiter.h"
#include "stack/socket/iov.h"

namespace netshim {
namespace {

int Errno() { return -errno; }

// What sendfile reads and sends at a time: the default pipe size, which is what Linux's
// splice_direct_to_actor moves per round (its internal pipe holds 16 pages).
constexpr size_t kSendFileChunk = 64 * 1024;

// ___sys_sendmsg / ___sys_recvmsg: the msghdr's own checks (as sendmsg/recvmsg make them).
int CheckMsghdr(const msghdr& msg) {
  if (msg.msg_iovlen > static_cast<size_t>(kMaxIov)) return -EMSGSIZE;
  if (msg.msg_iovlen > 0 && msg.msg_iov == nullptr) return -EFAULT;
  return 0;
}

std::span<const iovec> Iovecs(const msghdr& msg) { return {msg.msg_iov, msg.msg_iovlen}; }

// One sendmsg(2) of a batch.
ssize_t SendOne(OpenSocket& s, const msghdr& msg, int flags) {
  if (const int r = CheckMsghdr(msg); r < 0) return r;
  // copy_msghdr_from_user: a null msg_name means no address, whatever msg_namelen says.
  const auto* to = static_cast<const sockaddr*>(msg.msg_name);
  return SendMessage(s, Iovecs(msg), to, to != nullptr ? msg.msg_namelen : 0, flags);
}

// One recvmsg(2) of a batch; fills msg_flags (and the name) as recvmsg does.
ssize_t ReceiveOne(OpenSocket& s, msghdr& msg, int flags) {
  if (const int r = CheckMsghdr(msg); r < 0) return r;
  int msg_flags = 0;
  auto* from = static_cast<sockaddr*>(msg.msg_name);
  const ssize_t n = ReceiveMessage(s, Iovecs(msg), flags, from,
                                   from != nullptr ? &msg.msg_namelen : nullptr, &msg_flags);
  if (n >= 0) {
    msg.msg_flags = msg_flags;
    msg.msg_controllen = 0;  // no control messages are produced
  }
  return n;
}

// timespec64_valid, which poll_select_set_timeout asks of recvmmsg's timeout.
bool ValidTimespec(const timespec& t) {
  return t.tv_sec >= 0 && t.tv_nsec >= 0 && t.tv_nsec < 1000000000L;
}

// Where a file read for sendfile(2) starts: *offset, or in_fd's file position.
// Linux do_sendfile: without FMODE_PREAD (pipes, sockets) an offset is -ESPIPE; without one,
// splice_direct_to_actor wants a seekable input (FMODE_LSEEK), else -EINVAL.
int SendFileStart(int in_fd, const struct stat& st, const off_t* offset, off_t* pos) {
  if (offset != nullptr) {
    if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) return -ESPIPE;
    *pos = *offset;
    return 0;
  }
  const off_t here = ::lseek(in_fd, 0, SEEK_CUR);
  if (here < 0) return errno == ESPIPE ? -EINVAL : Errno();
  *pos = here;
  return 0;
}

// rw_verify_area(READ, ...) for a file without unsigned offsets.
int VerifyReadArea(off_t pos, size_t count) {
  if (count > static_cast<size_t>(std::numeric_limits<ssize_t>::max())) return -EINVAL;
  if (pos < 0) return -EINVAL;
  if (count > static_cast<size_t>(std::numeric_limits<off_t>::max() - pos)) return -EINVAL;
  return 0;
}

// A failed read of sendfile's input as Linux words it: what cannot be spliced from
// (a directory, an eventfd, ...) is -EINVAL, and so is a file that cannot be read at an
// offset when no offset was given (its position is all there is).
int SendFileReadError(int error, bool have_offset) {
  if (error == EISDIR) return -EINVAL;
  if (error == ESPIPE && !have_offset) return -EINVAL;
  return -error;
}

}  // namespace

int SendMessages(OpenSocket& s, mmsghdr* msgs, unsigned vlen, int flags) {
  vlen = std::min(vlen, static_cast<unsigned>(kMaxIov));  // __sys_sendmmsg caps it
  if (vlen > 0 && msgs == nullptr) return -EFAULT;
  unsigned sent = 0;
  ssize_t error = 0;
  for (; sent < vlen; ++sent) {
    const msghdr& msg = msgs[sent].msg_hdr;
    const ssize_t r = SendOne(s, msg, flags);
    if (r < 0) {
      error = r;
      break;
    }
    msgs[sent].msg_len = static_cast<unsigned>(r);
    // "if (msg_data_left(&msg_sys)) break": a message only partly taken ends the batch
    // (it still counts).
    if (static_cast<size_t>(r) < IovTotalLength(Iovecs(msg))) {
      ++sent;
      break;
    }
  }
  // "We only return an error if no datagrams were able to be sent."
  if (sent > 0) return static_cast<int>(sent);
  return static_cast<int>(error);
}

int ReceiveMessages(OpenSocket& s, mmsghdr* msgs, unsigned vlen, int flags, timespec* timeout) {
  // poll_select_set_timeout: checked before anything else; a zero timeout ends the batch
  // after the first message (its end time is the epoch, always past).
  std::optional<absl::Time> end;
  if (timeout != nullptr) {
    if (!ValidTimespec(*timeout)) return -EINVAL;
    const absl::Duration d = absl::DurationFromTimespec(*timeout);
    end = d == absl::ZeroDuration() ? absl::InfinitePast() : MonotonicNow() + d;
  }
  if (vlen > 0 && msgs == nullptr) return -EFAULT;
  timespec left = timeout != nullptr ? *timeout : timespec{};
  unsigned received = 0;
  ssize_t error = 0;
  while (received < vlen) {
    msghdr& msg = msgs[received].msg_hdr;
    const ssize_t r = ReceiveOne(s, msg, flags & ~MSG_WAITFORONE);
    if (r < 0) {
      error = r;
      break;
    }
    msgs[received].msg_len = static_cast<unsigned>(r);
    ++received;
    // "MSG_WAITFORONE turns on MSG_DONTWAIT after one packet".
    if (flags & MSG_WAITFORONE) flags |= MSG_DONTWAIT;
    if (end) {
      // The timeout is only looked at here, between messages.
      const absl::Duration remaining = *end - MonotonicNow();
      if (remaining <= absl::ZeroDuration()) {
        left = timespec{};
        break;
      }
      left = absl::ToTimespec(remaining);
    }
    // "Out of band data, return right away".
    if (msg.msg_flags & MSG_OOB) break;
  }
  if (received == 0) return static_cast<int>(error);
  // Linux keeps an error other than EAGAIN as the socket's pending error for the next
  // call; the stack's sockets report their own errors again on the next receive, so the
  // count is simply returned. __sys_recvmmsg writes the time left back only on success.
  if (timeout != nullptr) *timeout = left;
  return static_cast<int>(std::min<unsigned>(received, std::numeric_limits<int>::max()));
}

ssize_t SendFile(const FdTable& table, OpenSocket& out, int in_fd, off_t* offset, size_t count) {
  // A socket has neither FMODE_PREAD nor FMODE_LSEEK: -ESPIPE with an offset, else -EINVAL.
  if (table.Get(in_fd)) return offset != nullptr ? -ESPIPE : -EINVAL;
  // do_sendfile: the input must be open for reading (O_PATH descriptors are not).
  const int fl = real::fcntl(in_fd, F_GETFL, 0);
  if (fl < 0) return Errno();
  if ((fl & O_PATH) || (fl & O_ACCMODE) == O_WRONLY) return -EBADF;
  struct stat st {};
  if (real::fstat(in_fd, &st) < 0) return Errno();
  off_t pos = 0;
  if (const int r = SendFileStart(in_fd, st, offset, &pos); r < 0) return r;
  if (const int r = VerifyReadArea(pos, count); r < 0) return r;
  count = std::min(count, kMaxRwCount);
  if (count == 0) return 0;
  if (S_ISDIR(st.st_mode)) return -EINVAL;  // nothing to splice from

  const size_t chunk = std::min(count, kSendFileChunk);
  auto buf = std::make_unique_for_overwrite<uint8_t[]>(chunk);
  size_t done = 0;
  ssize_t error = 0;
  while (done < count) {
    const size_t want = std::min(chunk, count - done);
    const ssize_t got = real::pread(in_fd, buf.get(), want, pos + static_cast<off_t>(done));
    if (got < 0) {
      error = SendFileReadError(errno, offset != nullptr);
      break;
    }
    if (got == 0) break;  // end of file
    // As the splice to a socket: send(2) with no flags, so a broken connection raises
    // SIGPIPE. Not MSG_MORE between chunks: the last chunk is not known before the end of
    // the file is read, and data held back by MSG_MORE would wait for a send never made.
    iovec iov{buf.get(), static_cast<size_t>(got)};
    const ssize_t sent = SendMessage(out, {&iov, 1}, nullptr, 0, 0);
    if (sent < 0) {
      error = sent;
      break;
    }
    done += static_cast<size_t>(sent);
    // A non-blocking socket that took only part, or a blocking one interrupted or timed
    // out: splice_direct_to_actor stops at what the output took.
    if (sent < got) break;
  }
  if (done == 0) return error;
  // Only a transfer moves the position (do_sendfile: "if (retval > 0)"), by what was sent.
  const off_t end = pos + static_cast<off_t>(done);
  if (offset != nullptr) {
    *offset = end;
  } else {
    ::lseek(in_fd, end, SEEK_SET);
  }
  return static_cast<ssize_t>(done);
}

bool NamesDescriptorItself(const char* path, int flags) {
  return (flags & AT_EMPTY_PATH) && (path == nullptr || path[0] == '\0');
}

int FstatatSocket(int fd, struct stat* st, int flags) {
  // vfs_fstatat / vfs_statx: the flags fstatat knows.
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH)) return -EINVAL;
  return FstatSocket(fd, st);
}

int StatxSocket(int fd, int flags, unsigned mask, struct statx* out) {
  // The kernel checks flags and mask on the placeholder and fills what it can; only what
  // makes it a socket is changed.
  if (real::statx(fd, "", flags, mask, out) < 0) return Errno();
  out->stx_mode = static_cast<uint16_t>(S_IFSOCK | 0777);
  out->stx_mask |= STATX_TYPE | STATX_MODE;
  out->stx_size = 0;
  out->stx_blocks = 0;
  return 0;
}

}  // namespace netshim
