// Name resolution for programs under the shim. glibc's getaddrinfo and friends reach DNS
// through internal socket calls that no preload can intercept, so the shim replaces the
// entry points themselves (interpose_dns.cc) with these: the C library's semantics (flags,
// hints, EAI_* and h_errno codes, result layout) rebuilt over c-ares, whose UDP and TCP go
// through sockets the caller supplies (the shim's stack sockets), and which reads
// /etc/resolv.conf and /etc/hosts itself.
//
// The host these answer for is IPv4-only: the stack has one IPv4 address and no IPv6, so
// names resolve to A records only, AI_ADDRCONFIG sees IPv4 and no IPv6 (glibc's __check_pf
// on such a host), and AF_INET6 gets v4-mapped addresses with AI_V4MAPPED and nothing
// otherwise. Numeric hosts, a null host and "localhost" never touch the network.
#pragma once

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shim/open_socket.h"

namespace netshim {

// What a forward lookup found: the name's IPv4 addresses and canonical name.
struct HostAddresses {
  // 0, or the getaddrinfo code: EAI_NONAME (no such name), EAI_NODATA (the name exists
  // without A records), EAI_AGAIN (no answer in time, SERVFAIL), EAI_FAIL (a broken
  // answer), EAI_MEMORY, EAI_SYSTEM (with `sys_errno`).
  int error = 0;
  int sys_errno = 0;
  std::string canonical;             // the end of the CNAME chain ("" = the name asked)
  std::vector<std::string> aliases;  // the names that led there
  std::vector<in_addr> addresses;
};

// What a reverse lookup found: 0 and the name, or EAI_NONAME / EAI_AGAIN / EAI_SYSTEM.
struct HostName {
  int error = 0;
  int sys_errno = 0;
  std::string name;
};

// The network side, injected so that the C library's semantics can be tested apart from
// it. Called only for names that are not numeric and not "localhost".
using HostLookup = std::function<HostAddresses(const std::string& name)>;
using AddressLookup = std::function<HostName(in_addr address)>;

// getaddrinfo(3) as glibc 2.36 answers it (sysdeps/posix/getaddrinfo.c), over `lookup`.
// Each entry is one malloc block holding the addrinfo and its sockaddr, with ai_canonname
// a separate malloc'd string, exactly as glibc lays them out, so that FreeAddrInfo and
// glibc's freeaddrinfo free either's lists.
int ResolveAddrInfo(const char* node, const char* service, const addrinfo* hints,
                    const HostLookup& lookup, addrinfo** res);
void FreeAddrInfo(addrinfo* ai);

// getnameinfo(3) as glibc's (inet/getnameinfo.c) for AF_INET and v4-mapped AF_INET6
// addresses (the ones this host can reach); EAI_FAMILY for any other family. `reverse`
// is asked unless NI_NUMERICHOST.
int ResolveNameInfo(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen, char* serv,
                    socklen_t servlen, int flags, const AddressLookup& reverse);

// gethostbyname2_r(3): 0 with *result set, or *result null, *h_errnop set (HOST_NOT_FOUND,
// NO_DATA, TRY_AGAIN, NO_RECOVERY, NETDB_INTERNAL) and an errno value returned (ERANGE
// when `buf` is too small: the caller retries with a larger one).
int ResolveHostEnt(const char* name, int af, hostent* ret, char* buf, size_t buflen,
                   hostent** result, int* h_errnop, const HostLookup& lookup);

// The h_errno code for a lookup's EAI_* code.
int HostErrorFor(int eai);

struct ResolverOptions {
  // Opens a non-blocking socket of `type` (SOCK_DGRAM or SOCK_STREAM) for talking to the
  // name servers: the shim's stack sockets. Null with *error (a negative errno) when it
  // cannot. Only IPv4 name servers are reachable.
  std::function<std::shared_ptr<OpenSocket>(int type, int* error)> open_socket;
  // For tests: another resolv.conf (ARES_OPT_RESOLVCONF), name servers ("ip:port,...")
  // instead of its, and /etc/hosts replaced by $CARES_HOSTS (c-ares' ARES_AI_ENVHOSTS).
  std::optional<std::string> resolv_conf;
  std::optional<std::string> servers;
  bool hosts_from_env = false;
  // c-ares' per-try timeout and tries (its defaults, or resolv.conf's options, otherwise).
  std::optional<int> timeout_ms;
  std::optional<int> tries;
};

// Lookups through c-ares over `open_socket`'s sockets. Each lookup has its own c-ares
// channel (so it is thread-safe and sees resolv.conf as it is now) and runs to completion
// in the calling thread, sleeping in the shim's waiter between c-ares' steps; its length is
// bounded by c-ares' timeouts and tries. Signals do not cut it short (glibc's resolver
// restarts its poll on EINTR too).
class Resolver {
 public:
  explicit Resolver(ResolverOptions options);

  HostAddresses LookupHost(const std::string& name) const;
  HostName LookupAddress(in_addr address) const;

  int GetAddrInfo(const char* node, const char* service, const addrinfo* hints,
                  addrinfo** res) const;
  int GetNameInfo(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen, char* serv,
                  socklen_t servlen, int flags) const;
  int GetHostByName2R(const char* name, int af, hostent* ret, char* buf, size_t buflen,
                      hostent** result, int* h_errnop) const;
  // gethostbyname2(3): the calling thread's static hostent (valid until its next call), or
  // null with *h_errnop set.
  hostent* GetHostByName2(const char* name, int af, int* h_errnop) const;

 private:
  ResolverOptions options_;
};

}  // namespace netshim
