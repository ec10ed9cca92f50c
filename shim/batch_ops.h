// The batch and file-to-socket calls on stack sockets — sendmmsg(2), recvmmsg(2),
// sendfile(2) — and the stat calls that name a stack socket by descriptor (statx(2) and
// fstatat(2) with AT_EMPTY_PATH). Each is built from the single-message calls of
// socket_ops.h, so blocking, timeouts, signals and SIGPIPE are theirs, while the batching
// rules (what counts, when to stop, what an error after some progress means) are Linux's
// net/socket.c and fs/read_write.c. Results are >= 0 or a negative errno.
#pragma once

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <cstddef>

#include "shim/fd_table.h"
#include "shim/open_socket.h"

namespace netshim {

// sendmmsg(2): at most kMaxIov (UIO_MAXIOV) messages, each sent as sendmsg(2) would with
// `flags` (so each blocks as the socket does), its msg_len filled in. The count sent; an
// error ends the batch and is returned only when nothing was sent (Linux __sys_sendmmsg).
// A message sent in part (a stream socket with no room) counts and ends the batch.
int SendMessages(OpenSocket& s, mmsghdr* msgs, unsigned vlen, int flags);

// recvmmsg(2), as Linux's do_recvmmsg: each message is a recvmsg(2) filling msg_len,
// msg_flags and the sender's name; MSG_WAITFORONE makes every one after the first
// non-blocking; `timeout` (may be null) is looked at only after each message (it does not
// bound the wait for any of them: recvmmsg(2) BUGS) and, when something was received, left
// holding the time that remained. -EINVAL for a timeout that is not a valid timespec. An
// error after some messages ends the batch and the count is returned.
int ReceiveMessages(OpenSocket& s, mmsghdr* msgs, unsigned vlen, int flags, timespec* timeout);

// sendfile(2) from the kernel file `in_fd` to the stack socket `out`: up to `count` bytes
// (capped at MAX_RW_COUNT) read at *offset (then advanced) or, when `offset` is null, at
// in_fd's file position (then moved past exactly what was sent). Sent in chunks as
// send(2) with no flags would (blocking per the socket, SIGPIPE on -EPIPE); the bytes sent
// before an error or a full non-blocking socket are the result. `in_fd` must be a readable
// seekable file: a stack socket (looked up in `table`), pipe, socket or directory is
// -EINVAL, as Linux's splice_direct_to_actor.
ssize_t SendFile(const FdTable& table, OpenSocket& out, int in_fd, off_t* offset, size_t count);

// Whether statx/fstatat's (path, flags) mean the descriptor itself: an empty path with
// AT_EMPTY_PATH (a null one too, as Linux accepts since 6.11).
bool NamesDescriptorItself(const char* path, int flags);

// fstatat(2) of the stack socket placeholder `fd` itself: fstat's answer (FstatSocket),
// after fstatat's flag checks.
int FstatatSocket(int fd, struct stat* st, int flags);

// statx(2) of the stack socket placeholder `fd` itself: the placeholder's times, ids and
// inode, typed as a socket (S_IFSOCK, mode 0777, size 0) as Linux shows sockets.
int StatxSocket(int fd, int flags, unsigned mask, struct statx* out);

// Linux's MAX_RW_COUNT (INT_MAX rounded down to a page): the most one read/write/sendfile
// moves.
inline constexpr size_t kMaxRwCount = 0x7ffff000;

}  // namespace netshim
