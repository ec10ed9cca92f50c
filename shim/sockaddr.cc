#include "shim/sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace netshim {

int ReadSocketAddress(const sockaddr* addr, socklen_t len, AddressUse use, ParsedAddress* out) {
  // move_addr_to_kernel: "if (ulen < 0 || ulen > sizeof(struct sockaddr_storage))".
  if (static_cast<int>(len) < 0 || len > sizeof(sockaddr_storage)) return -EINVAL;
  // copy_from_user of a null pointer faults; a zero length copies nothing.
  if (len > 0 && addr == nullptr) return -EFAULT;
  sockaddr_in in{};
  if (len > 0) std::memcpy(&in, addr, std::min<size_t>(len, sizeof(in)));
  *out = ParsedAddress{};
  if (use == AddressUse::kConnect) {
    // inet_stream_connect / inet_dgram_connect look at sa_family first.
    if (len < sizeof(in.sin_family)) return -EINVAL;
    if (in.sin_family == AF_UNSPEC) {
      out->disconnect = true;
      return 0;
    }
  }
  if (len < sizeof(sockaddr_in)) return -EINVAL;
  if (in.sin_family != AF_INET) {
    switch (use) {
      case AddressUse::kBind:
        // inet_bind: "Compatibility games: accept AF_UNSPEC (mapped to AF_INET) only if
        // s_addr is INADDR_ANY".
        if (in.sin_family != AF_UNSPEC || in.sin_addr.s_addr != htonl(INADDR_ANY)) {
          return -EAFNOSUPPORT;
        }
        break;
      case AddressUse::kSendTo:
        if (in.sin_family != AF_UNSPEC) return -EAFNOSUPPORT;
        break;
      case AddressUse::kConnect:
        return -EAFNOSUPPORT;
    }
  }
  out->address.address = Ipv4Address{ntohl(in.sin_addr.s_addr)};
  out->address.port = ntohs(in.sin_port);
  return 0;
}

namespace {

// move_addr_to_user(kaddr, klen, uaddr, ulen).
int MoveToUser(const void* kaddr, socklen_t klen, sockaddr* out, socklen_t* len) {
  if (len == nullptr) return -EFAULT;
  const int want = static_cast<int>(*len);
  if (want < 0) return -EINVAL;
  const socklen_t n = std::min<socklen_t>(static_cast<socklen_t>(want), klen);
  if (n > 0) {
    if (out == nullptr) return -EFAULT;
    std::memcpy(out, kaddr, n);
  }
  *len = klen;
  return 0;
}

}  // namespace

int WriteSocketAddress(const SocketAddress& address, sockaddr* out, socklen_t* len) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(address.port);
  in.sin_addr.s_addr = htonl(address.address.value);
  return MoveToUser(&in, sizeof(in), out, len);
}

int WriteNoAddress(sockaddr* out, socklen_t* len) {
  static constexpr char kNothing = 0;
  return MoveToUser(&kNothing, 0, out, len);
}

}  // namespace netshim
