// The interposed resolver entry points: getaddrinfo, freeaddrinfo, getnameinfo,
// gethostbyname, gethostbyname2, gethostbyname_r, gethostbyname2_r. glibc's resolver talks
// to name servers through internal socket calls that a preload cannot catch, so with
// NETSHIM_DNS=stack (the default) these answer from resolver.h, whose queries travel over
// the stack's UDP and TCP. With NETSHIM_DNS=kernel, in a child forked after the stack
// started (it cannot open stack sockets) and while the stack itself starts, they are
// glibc's own. gai_strerror is not replaced: our codes are glibc's.
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>

#include <cerrno>

#include "shim/interpose_common.h"
#include "shim/resolver.h"
#include "stack/runtime/config.h"

namespace netshim::shim {
namespace {

// The C library's function `name`, found once (RTLD_NEXT: the next object after ours).
template <typename F>
F* Next(const char* name) {
  return reinterpret_cast<F*>(dlsym(RTLD_NEXT, name));
}

bool DnsThroughStack() {
  // A bad NETSHIM_* value leaves the stack mode on: the first socket then stops the
  // program with the message, as for any other call.
  static const bool stack_mode = [] {
    const absl::StatusOr<Config> config = ParseConfig(::getenv);
    return !config.ok() || config->dns == Config::Dns::kStack;
  }();
  return stack_mode && !InForkedChild() && !StartingStack();
}

// The resolver's sockets: the stack's, non-blocking, closed like the program's own
// (a TCP connection to a name server drains at exit).
std::shared_ptr<OpenSocket> OpenResolverSocket(int type, int* error) {
  if (InForkedChild()) {
    *error = -EOPNOTSUPP;
    return nullptr;
  }
  std::shared_ptr<Socket> socket = EnsureStack().CreateSocket(type, 0, error);
  if (!socket) return nullptr;
  return MakeOpenSocket(std::move(socket), /*nonblocking=*/true);
}

const Resolver& StackResolver() {
  static const Resolver* resolver = [] {
    ResolverOptions options;
    options.open_socket = OpenResolverSocket;
    return new Resolver(std::move(options));
  }();
  return *resolver;
}

// Whether getnameinfo on `sa` is ours: IPv4, and v4-mapped IPv6 (glibc's nss_dns unmaps
// those too); anything else (AF_UNIX, real IPv6) stays glibc's, as does a bad length,
// which glibc rejects the same way.
bool NameInfoIsOurs(const sockaddr* sa, socklen_t salen) {
  if (sa == nullptr || salen < sizeof(sa_family_t)) return false;
  if (sa->sa_family == AF_INET) return salen >= sizeof(sockaddr_in);
  if (sa->sa_family != AF_INET6 || salen < sizeof(sockaddr_in6)) return false;
  return IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
}

}  // namespace
}  // namespace netshim::shim

using netshim::shim::DnsThroughStack;
using netshim::shim::Next;
using netshim::shim::StackResolver;

extern "C" {

int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
  if (!DnsThroughStack()) {
    static auto* real = Next<decltype(::getaddrinfo)>("getaddrinfo");
    return real(node, service, hints, res);
  }
  return StackResolver().GetAddrInfo(node, service, hints, res);
}

// Our lists have glibc's layout (resolver.h), so one loop frees either; kernel mode's
// lists come from glibc and are freed the same way.
void freeaddrinfo(addrinfo* ai) noexcept { netshim::FreeAddrInfo(ai); }

int getnameinfo(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen, char* serv,
                socklen_t servlen, int flags) {
  if (!DnsThroughStack() || !netshim::shim::NameInfoIsOurs(sa, salen)) {
    static auto* real = Next<decltype(::getnameinfo)>("getnameinfo");
    return real(sa, salen, host, hostlen, serv, servlen, flags);
  }
  return StackResolver().GetNameInfo(sa, salen, host, hostlen, serv, servlen, flags);
}

hostent* gethostbyname2(const char* name, int af) {
  if (!DnsThroughStack()) {
    static auto* real = Next<decltype(::gethostbyname2)>("gethostbyname2");
    return real(name, af);
  }
  int herr = 0;
  hostent* h = StackResolver().GetHostByName2(name, af, &herr);
  if (h == nullptr) h_errno = herr;
  return h;
}

hostent* gethostbyname(const char* name) {
  if (!DnsThroughStack()) {
    static auto* real = Next<decltype(::gethostbyname)>("gethostbyname");
    return real(name);
  }
  return gethostbyname2(name, AF_INET);
}

int gethostbyname2_r(const char* name, int af, hostent* ret, char* buf, size_t buflen,
                     hostent** result, int* h_errnop) {
  if (!DnsThroughStack()) {
    static auto* real = Next<decltype(::gethostbyname2_r)>("gethostbyname2_r");
    return real(name, af, ret, buf, buflen, result, h_errnop);
  }
  const int r = StackResolver().GetHostByName2R(name, af, ret, buf, buflen, result, h_errnop);
  if (r != 0) errno = r;  // glibc sets errno to what it returns
  return r;
}

int gethostbyname_r(const char* name, hostent* ret, char* buf, size_t buflen, hostent** result,
                    int* h_errnop) {
  if (!DnsThroughStack()) {
    static auto* real = Next<decltype(::gethostbyname_r)>("gethostbyname_r");
    return real(name, ret, buf, buflen, result, h_errnop);
  }
  return gethostbyname2_r(name, AF_INET, ret, buf, buflen, result, h_errnop);
}

}  // extern "C"
