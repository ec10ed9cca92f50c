#include "shim/open_socket.h"

#include <utility>

namespace netshim {

OpenSocket::OpenSocket(std::shared_ptr<Socket> socket, bool nonblocking, CloseHook on_close)
    : socket_(std::move(socket)), nonblocking_(nonblocking), on_close_(std::move(on_close)) {}

// Linux sock_close -> inet_release: the protocol's close (FIN, RST or linger) runs when
// the last file reference is dropped, not at each close(2).
OpenSocket::~OpenSocket() { CloseNow(); }

void OpenSocket::CloseNow() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  if (on_close_) {
    on_close_(socket_);
  } else {
    socket_->Close();
  }
}

}  // namespace netshim
