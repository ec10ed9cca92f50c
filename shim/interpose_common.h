// What every interposed function shares: finding a stack socket behind a descriptor and
// turning the shim's "value or negative errno" into the C library's "-1 and errno", with
// errno left as it was on success (the shim's own syscalls may have touched it).
#pragma once

#include <cerrno>
#include <memory>

#include "shim/open_socket.h"
#include "shim/runtime.h"

namespace netshim::shim {

class CallResult {
 public:
  CallResult() : saved_errno_(errno) {}
  template <typename T>
  T operator()(T result) const {
    if (result < 0) {
      errno = static_cast<int>(-result);
      return -1;
    }
    errno = saved_errno_;
    return result;
  }

 private:
  const int saved_errno_;
};

// The socket behind `fd`, or null when it is a kernel descriptor.
inline std::shared_ptr<OpenSocket> StackSocket(int fd) { return Fds().Get(fd); }

}  // namespace netshim::shim

// For a call that needs the parent's stack in a forked child: fail it there.
#define NETSHIM_REFUSE_IN_CHILD(fd, result)                                                  \
  do {                                                                                       \
    if (::netshim::shim::InForkedChild()) return result(::netshim::shim::RefuseInChild(fd)); \
  } while (0)
