#include "shim/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <span>

#include "absl/base/call_once.h"
#include "absl/container/inlined_vector.h"
#include "shim/socket_ops.h"
#include "shim/waiter.h"

namespace netshim {
namespace {

// ---------------------------------------------------------------------------------------
// getaddrinfo: glibc 2.36 sysdeps/posix/getaddrinfo.c.

// gaih_inet_typeproto: what one service entry can be. The first entry stands for "no
// socket type or protocol asked"; the list ends with an unnamed one.
struct TypeProto {
  int socktype;
  int protocol;
  int protoflag;
  bool defaultflag;  // returned when neither socket type nor protocol was asked
  const char* name;  // the protocol name getservbyname_r looks up
};
constexpr int kProtoAny = 1;   // GAI_PROTO_PROTOANY: any protocol number goes
constexpr int kNoService = 2;  // GAI_PROTO_NOSERVICE: no port numbers (raw)
constexpr TypeProto kTypeProtos[] = {
    {0, 0, 0, false, ""},
    {SOCK_STREAM, IPPROTO_TCP, 0, true, "tcp"},
    {SOCK_DGRAM, IPPROTO_UDP, 0, true, "udp"},
    {SOCK_DCCP, IPPROTO_DCCP, 0, false, "dccp"},
    {SOCK_DGRAM, IPPROTO_UDPLITE, 0, false, "udplite"},
    {SOCK_STREAM, IPPROTO_SCTP, 0, false, "sctp"},
    {SOCK_SEQPACKET, IPPROTO_SCTP, 0, false, "sctp"},
    {SOCK_RAW, 0, kProtoAny | kNoService, true, "raw"},
    {0, 0, 0, false, ""},
};

// gaih_servtuple: one (socket type, protocol, port) each address is returned with.
struct ServTuple {
  int socktype;
  int protocol;
  uint16_t port;  // network order
};

// The flags glibc accepts (AI_IDN and friends are accepted and mean nothing here: names
// are passed on as they are).
constexpr int kKnownAiFlags = AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_ADDRCONFIG |
                              AI_V4MAPPED | AI_IDN | AI_CANONIDN | AI_NUMERICSERV | AI_ALL |
                              0x0100 /* DEPRECATED_AI_IDN */;

// Bounds on the scratch buffers of getservby*_r (glibc grows its scratch_buffer the same
// way, without a bound; /etc/services lines are short).
constexpr size_t kServentBuffer = 1024;
constexpr size_t kMaxServentBuffer = 64 * 1024;

// getservbyname_r for one protocol: 0 and the port, EAI_SERVICE, or EAI_MEMORY.
int ServicePort(const char* service, const char* proto, uint16_t* port) {
  std::vector<char> buf(kServentBuffer);
  for (;;) {
    servent ent;
    servent* found = nullptr;
    const int r = getservbyname_r(service, proto, &ent, buf.data(), buf.size(), &found);
    if (r == ERANGE) {
      if (buf.size() >= kMaxServentBuffer) return EAI_MEMORY;
      buf.resize(buf.size() * 2);
      continue;
    }
    if (r != 0 || found == nullptr) return EAI_SERVICE;
    *port = static_cast<uint16_t>(found->s_port);
    return 0;
  }
}

bool Matches(const TypeProto& tp, const addrinfo& req) {
  return (req.ai_socktype == 0 || req.ai_socktype == tp.socktype) &&
         (req.ai_protocol == 0 || (tp.protoflag & kProtoAny) || req.ai_protocol == tp.protocol);
}

// The service tuples of gaih_inet: `service` null when none was given, `num` its number
// (negative when it is a name).
int ServiceTuples(const char* service, int num, const addrinfo& req, std::vector<ServTuple>* out) {
  size_t tp = 0;
  if (req.ai_socktype != 0 || req.ai_protocol != 0) {
    ++tp;
    while (kTypeProtos[tp].name[0] != '\0' && !Matches(kTypeProtos[tp], req)) ++tp;
    if (kTypeProtos[tp].name[0] == '\0') return req.ai_socktype != 0 ? EAI_SOCKTYPE : EAI_SERVICE;
  }
  const TypeProto& t = kTypeProtos[tp];
  uint16_t port = 0;
  if (service != nullptr) {
    if (t.protoflag & kNoService) return EAI_SERVICE;
    if (num < 0) {
      if (t.name[0] != '\0') {
        if (const int r = ServicePort(service, t.name, &port); r != 0) return r;
        out->push_back(
            {t.socktype, (t.protoflag & kProtoAny) ? req.ai_protocol : t.protocol, port});
        return 0;
      }
      // Neither socket type nor protocol: every protocol that knows the service name.
      for (size_t i = 1; kTypeProtos[i].name[0] != '\0'; ++i) {
        const TypeProto& each = kTypeProtos[i];
        if ((each.protoflag & kNoService) || !Matches(each, req)) continue;
        if (ServicePort(service, each.name, &port) != 0) continue;
        out->push_back(
            {each.socktype, (each.protoflag & kProtoAny) ? req.ai_protocol : each.protocol, port});
      }
      return out->empty() ? EAI_SERVICE : 0;
    }
    port = htons(static_cast<uint16_t>(num));
  }
  if (req.ai_socktype != 0 || req.ai_protocol != 0) {
    out->push_back({t.socktype, (t.protoflag & kProtoAny) ? req.ai_protocol : t.protocol, port});
  } else {
    for (size_t i = 1; kTypeProtos[i].name[0] != '\0'; ++i) {
      if (kTypeProtos[i].defaultflag) {
        out->push_back({kTypeProtos[i].socktype, kTypeProtos[i].protocol, port});
      }
    }
  }
  return 0;
}

// One address to return: AF_INET or AF_INET6.
struct AddrTuple {
  int family = AF_UNSPEC;
  std::array<uint8_t, 16> addr{};
  uint32_t scope_id = 0;
};

AddrTuple V4Tuple(in_addr a) {
  AddrTuple t;
  t.family = AF_INET;
  std::memcpy(t.addr.data(), &a, 4);
  return t;
}

// RFC 4291 2.5.5.2: ::ffff:a.b.c.d.
AddrTuple MappedTuple(in_addr a) {
  AddrTuple t;
  t.family = AF_INET6;
  t.addr[10] = 0xff;
  t.addr[11] = 0xff;
  std::memcpy(t.addr.data() + 12, &a, 4);
  return t;
}

// __inet_aton_exact: inet_aton's forms ("127.1", "0x7f.0.0.1", ...) with nothing after
// them. inet_aton itself stops at the first white space, so a name with none is exact.
bool ParseV4Exact(const char* name, in_addr* out) {
  if (inet_aton(name, out) == 0) return false;
  for (const char* p = name; *p != '\0'; ++p) {
    if (std::isspace(static_cast<unsigned char>(*p))) return false;
  }
  return true;
}

// __inet6_scopeid_pton: an interface name for link-local addresses, else a number.
bool ParseScopeId(const in6_addr& addr, const char* scope, uint32_t* out) {
  if (IN6_IS_ADDR_LINKLOCAL(&addr) || IN6_IS_ADDR_MC_NODELOCAL(&addr) ||
      IN6_IS_ADDR_MC_LINKLOCAL(&addr)) {
    if (const unsigned index = if_nametoindex(scope); index != 0) {
      *out = index;
      return true;
    }
  }
  if (!std::isdigit(static_cast<unsigned char>(scope[0]))) return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(scope, &end, 10);
  if (*end != '\0' || errno != 0 || n > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(n);
  return true;
}

// RFC 6761 6.3: "localhost." and names under it are the loopback address, answered
// without asking anyone.
bool IsLocalhost(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  constexpr std::string_view kLocal = "localhost";
  auto iequal = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  };
  if (iequal(name, kLocal)) return true;
  return name.size() > kLocal.size() + 1 && name[name.size() - kLocal.size() - 1] == '.' &&
         iequal(name.substr(name.size() - kLocal.size()), kLocal);
}

// A name that cannot be in the DNS (RFC 1035 2.3.4: labels of 1-63 octets, 255 octets in
// all on the wire, so 253 characters without the root dot) or that holds white space or
// control characters, which no resolver puts in a query (glibc's res_hnok refuses them in
// answers): EAI_NONAME without asking.
bool ValidLookupName(std::string_view name) {
  if (name.empty() || name == ".") return false;
  if (name.back() == '.') name.remove_suffix(1);
  if (name.size() > 253) return false;
  size_t label = 0;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (++label > 63) {
      return false;
    }
  }
  return label > 0;
}

// The addresses for `node` under the request `req` (family already narrowed by
// AI_ADDRCONFIG). Fills *canon when AI_CANONNAME applies.
int NodeAddresses(const char* node, const addrinfo& req, const HostLookup& lookup,
                  std::vector<AddrTuple>* out, std::string* canon) {
  const int family = req.ai_family;
  const bool passive = (req.ai_flags & AI_PASSIVE) != 0;
  if (node == nullptr) {
    // No host: the wildcard address with AI_PASSIVE, else loopback. glibc lists IPv6
    // first and then sorts (RFC 3484 rule 1: unusable destinations last); on this
    // IPv4-only host IPv6 is the unusable one.
    if (family == AF_UNSPEC || family == AF_INET) {
      out->push_back(V4Tuple(in_addr{htonl(passive ? INADDR_ANY : INADDR_LOOPBACK)}));
    }
    if (family == AF_UNSPEC || family == AF_INET6) {
      AddrTuple t;
      t.family = AF_INET6;
      const in6_addr a = passive ? in6addr_any : in6addr_loopback;
      std::memcpy(t.addr.data(), &a, 16);
      out->push_back(t);
    }
    return 0;
  }
  in_addr v4{};
  if (ParseV4Exact(node, &v4)) {
    if (family == AF_UNSPEC || family == AF_INET) {
      out->push_back(V4Tuple(v4));
    } else if (family == AF_INET6 && (req.ai_flags & AI_V4MAPPED)) {
      out->push_back(MappedTuple(v4));
    } else {
      return EAI_ADDRFAMILY;
    }
    *canon = node;
    return 0;
  }
  const char* scope = std::strchr(node, '%');
  const std::string literal(
      node, scope != nullptr ? static_cast<size_t>(scope - node) : std::strlen(node));
  in6_addr v6{};
  if (inet_pton(AF_INET6, literal.c_str(), &v6) == 1) {
    AddrTuple t;
    if (family == AF_UNSPEC || family == AF_INET6) {
      t.family = AF_INET6;
      std::memcpy(t.addr.data(), &v6, 16);
    } else if (family == AF_INET && IN6_IS_ADDR_V4MAPPED(&v6)) {
      t.family = AF_INET;
      std::memcpy(t.addr.data(), &v6.s6_addr[12], 4);
    } else {
      return EAI_ADDRFAMILY;
    }
    if (scope != nullptr && !ParseScopeId(v6, scope + 1, &t.scope_id)) return EAI_NONAME;
    out->push_back(t);
    *canon = node;
    return 0;
  }
  if (req.ai_flags & AI_NUMERICHOST) return EAI_NONAME;
  // A name. This host has no IPv6: AF_INET6 only gets v4-mapped addresses.
  if (family == AF_INET6 && !(req.ai_flags & AI_V4MAPPED)) return EAI_NONAME;
  std::vector<in_addr> addresses;
  if (IsLocalhost(node)) {
    addresses.push_back(in_addr{htonl(INADDR_LOOPBACK)});
    *canon = node;
  } else {
    if (!ValidLookupName(node)) return EAI_NONAME;
    HostAddresses found = lookup(node);
    if (found.error == EAI_SYSTEM) errno = found.sys_errno;
    if (found.error != 0) return found.error;
    if (found.addresses.empty()) return EAI_NODATA;
    addresses = std::move(found.addresses);
    *canon = found.canonical.empty() ? std::string(node) : found.canonical;
  }
  for (const in_addr a : addresses) {
    out->push_back(family == AF_INET6 ? MappedTuple(a) : V4Tuple(a));
  }
  return 0;
}

// One glibc-shaped entry: the addrinfo and its sockaddr in one malloc block.
addrinfo* NewEntry(const AddrTuple& at, const ServTuple& st, int flags) {
  const socklen_t len = at.family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  auto* ai = static_cast<addrinfo*>(std::calloc(1, sizeof(addrinfo) + len));
  if (ai == nullptr) return nullptr;
  ai->ai_flags = flags;
  ai->ai_family = at.family;
  ai->ai_socktype = st.socktype;
  ai->ai_protocol = st.protocol;
  ai->ai_addrlen = len;
  ai->ai_addr = reinterpret_cast<sockaddr*>(ai + 1);
  if (at.family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(ai->ai_addr);
    sin->sin_family = AF_INET;
    sin->sin_port = st.port;
    std::memcpy(&sin->sin_addr, at.addr.data(), 4);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(ai->ai_addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = st.port;
    std::memcpy(&sin6->sin6_addr, at.addr.data(), 16);
    sin6->sin6_scope_id = at.scope_id;
  }
  return ai;
}

// ---------------------------------------------------------------------------------------
// gethostbyname2_r.

struct HostEntData {
  std::string name;
  std::vector<std::string> aliases;
  int af = AF_INET;
  std::vector<std::array<uint8_t, 16>> addresses;
};

// h_errno and the found entry for `name` (0 when found).
int FindHost(const char* name, int af, const HostLookup& lookup, HostEntData* out, int* sys_errno) {
  *sys_errno = 0;
  if (name == nullptr) return HOST_NOT_FOUND;
  if (af != AF_INET && af != AF_INET6) {
    *sys_errno = EAFNOSUPPORT;
    return NETDB_INTERNAL;
  }
  out->af = af;
  out->name = name;
  std::array<uint8_t, 16> bytes{};
  // __nss_hostname_digits_dots: all digits and dots, not ending in a dot, is an IPv4
  // address or nothing; an IPv6 literal is one for AF_INET6 only.
  if (std::isdigit(static_cast<unsigned char>(name[0])) &&
      std::strspn(name, "0123456789.") == std::strlen(name) && name[std::strlen(name) - 1] != '.') {
    in_addr v4{};
    if (af != AF_INET || inet_aton(name, &v4) == 0) return HOST_NOT_FOUND;
    std::memcpy(bytes.data(), &v4, 4);
    out->addresses.push_back(bytes);
    return 0;
  }
  if (std::strchr(name, ':') != nullptr) {
    in6_addr v6{};
    if (af != AF_INET6 || inet_pton(AF_INET6, name, &v6) != 1) return HOST_NOT_FOUND;
    std::memcpy(bytes.data(), &v6, 16);
    out->addresses.push_back(bytes);
    return 0;
  }
  // Names have no IPv6 addresses on this host.
  if (af == AF_INET6) return HOST_NOT_FOUND;
  if (IsLocalhost(name)) {
    const in_addr lo{htonl(INADDR_LOOPBACK)};
    std::memcpy(bytes.data(), &lo, 4);
    out->addresses.push_back(bytes);
    return 0;
  }
  if (!ValidLookupName(name)) return HOST_NOT_FOUND;
  HostAddresses found = lookup(name);
  if (found.error == 0 && found.addresses.empty()) found.error = EAI_NODATA;
  if (found.error != 0) {
    *sys_errno =
        found.error == EAI_SYSTEM ? found.sys_errno : (found.error == EAI_MEMORY ? ENOMEM : 0);
    return HostErrorFor(found.error);
  }
  if (!found.canonical.empty()) out->name = found.canonical;
  out->aliases = std::move(found.aliases);
  for (const in_addr a : found.addresses) {
    std::memcpy(bytes.data(), &a, 4);
    out->addresses.push_back(bytes);
  }
  return 0;
}

// Lays `data` out in the caller's buffer: pointer arrays first (aligned), then the
// addresses, then the strings. ERANGE when it does not fit.
int PackHostEnt(const HostEntData& data, hostent* ret, char* buf, size_t buflen) {
  const size_t addr_len = data.af == AF_INET ? 4 : 16;
  const uintptr_t base = reinterpret_cast<uintptr_t>(buf);
  const size_t pad = (alignof(char*) - base % alignof(char*)) % alignof(char*);
  size_t need = pad + (data.addresses.size() + 1 + data.aliases.size() + 1) * sizeof(char*) +
                data.addresses.size() * addr_len + data.name.size() + 1;
  for (const std::string& a : data.aliases) need += a.size() + 1;
  if (buf == nullptr || need > buflen) return ERANGE;
  char* p = buf + pad;
  auto** addr_list = reinterpret_cast<char**>(p);
  p += (data.addresses.size() + 1) * sizeof(char*);
  auto** alias_list = reinterpret_cast<char**>(p);
  p += (data.aliases.size() + 1) * sizeof(char*);
  for (size_t i = 0; i < data.addresses.size(); ++i) {
    std::memcpy(p, data.addresses[i].data(), addr_len);
    addr_list[i] = p;
    p += addr_len;
  }
  addr_list[data.addresses.size()] = nullptr;
  auto copy = [&p](const std::string& s) {
    char* at = p;
    std::memcpy(p, s.c_str(), s.size() + 1);
    p += s.size() + 1;
    return at;
  };
  for (size_t i = 0; i < data.aliases.size(); ++i) alias_list[i] = copy(data.aliases[i]);
  alias_list[data.aliases.size()] = nullptr;
  ret->h_name = copy(data.name);
  ret->h_aliases = alias_list;
  ret->h_addrtype = data.af;
  ret->h_length = static_cast<int>(addr_len);
  ret->h_addr_list = addr_list;
  return 0;
}

// The errno value gethostbyname2_r returns with h_errno `herr` (glibc
// nss/getXXbyYY_r.c: EAGAIN for TRY_AGAIN, errno for NETDB_INTERNAL, 0 when the name was
// simply not found).
int HostEntReturn(int herr, int sys_errno) {
  if (herr == TRY_AGAIN) return EAGAIN;
  if (herr == NETDB_INTERNAL) return sys_errno != 0 ? sys_errno : EIO;
  return 0;
}

// ---------------------------------------------------------------------------------------
// getnameinfo: glibc inet/getnameinfo.c.

// NI_IDN plus the two deprecated IDN flags glibc still accepts (64, 128).
constexpr int kKnownNiFlags =
    NI_NUMERICHOST | NI_NUMERICSERV | NI_NOFQDN | NI_NAMEREQD | NI_DGRAM | NI_IDN | 64 | 128;

// checked_copy: the whole string with its NUL, or EAI_OVERFLOW.
int CheckedCopy(char* dest, size_t len, const std::string& s) {
  if (s.size() + 1 > len) return EAI_OVERFLOW;
  std::memcpy(dest, s.c_str(), s.size() + 1);
  return 0;
}

// NI_NOFQDN: only the host part of names in our own domain (the part of gethostname(2)
// after its first dot).
std::string StripOwnDomain(const std::string& name) {
  char self[HOST_NAME_MAX + 1] = {};
  if (gethostname(self, sizeof(self) - 1) != 0) return name;
  const char* dot = std::strchr(self, '.');
  if (dot == nullptr) return name;
  const std::string domain(dot);  // ".example.org"
  if (name.size() > domain.size() &&
      name.compare(name.size() - domain.size(), domain.size(), domain) == 0) {
    return name.substr(0, name.size() - domain.size());
  }
  return name;
}

int NameInfoHost(const sockaddr* sa, in_addr v4, char* host, socklen_t hostlen, int flags,
                 const AddressLookup& reverse) {
  if (!(flags & NI_NUMERICHOST)) {
    const HostName found = reverse(v4);
    if (found.error == EAI_SYSTEM) {
      errno = found.sys_errno;
      return EAI_SYSTEM;
    }
    if (found.error == EAI_AGAIN) return EAI_AGAIN;
    if (found.error == 0) {
      return CheckedCopy(host, hostlen,
                         (flags & NI_NOFQDN) ? StripOwnDomain(found.name) : found.name);
    }
  }
  if (flags & NI_NAMEREQD) return EAI_NONAME;
  const void* addr =
      sa->sa_family == AF_INET
          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr)
          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
  if (inet_ntop(sa->sa_family, addr, host, hostlen) == nullptr) return EAI_OVERFLOW;
  return 0;
}

int NameInfoService(uint16_t port, char* serv, socklen_t servlen, int flags) {
  if (!(flags & NI_NUMERICSERV)) {
    std::vector<char> buf(kServentBuffer);
    for (;;) {
      servent ent;
      servent* found = nullptr;
      const int r = getservbyport_r(port, (flags & NI_DGRAM) ? "udp" : "tcp", &ent, buf.data(),
                                    buf.size(), &found);
      if (r == ERANGE && buf.size() < kMaxServentBuffer) {
        buf.resize(buf.size() * 2);
        continue;
      }
      if (r == ERANGE) return EAI_MEMORY;
      if (r == 0 && found != nullptr) return CheckedCopy(serv, servlen, found->s_name);
      break;
    }
  }
  const int n = std::snprintf(serv, servlen, "%d", ntohs(port));
  if (n < 0 || static_cast<size_t>(n) >= servlen) return EAI_OVERFLOW;
  return 0;
}

// ---------------------------------------------------------------------------------------
// c-ares over the caller's sockets.

// Socket ids handed to c-ares. They are never descriptors (c-ares only passes them back to
// our functions), and are far above any real descriptor number so that a stray use could
// never hit one of the program's files.
constexpr ares_socket_t kFirstSocketId = 1 << 28;
// c-ares keeps one UDP socket per server and one TCP connection at most; this bounds it.
constexpr size_t kMaxSockets = 32;

void InitCaresOnce() {
  static absl::once_flag once;
  // ares_library_init is not thread-safe, and is a no-op on Linux beyond bookkeeping.
  absl::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

int EaiForCares(int status) {
  switch (status) {
    case ARES_SUCCESS:
      return 0;
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
    case ARES_EBADNAME:
      return EAI_NONAME;
    case ARES_ENODATA:
      return EAI_NODATA;
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED:
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return EAI_AGAIN;  // glibc: TRY_AGAIN
    case ARES_ENOMEM:
      return EAI_MEMORY;
    default:
      return EAI_FAIL;  // glibc: NO_RECOVERY (FORMERR, NOTIMP, a bad answer)
  }
}

// One c-ares channel and the sockets it opened, driven in the calling thread.
class Channel {
 public:
  explicit Channel(const ResolverOptions& options) : options_(options) {}
  ~Channel() {
    if (channel_ != nullptr) ares_destroy(channel_);  // closes its sockets through Close()
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // An ares status.
  int Init() {
    InitCaresOnce();
    ares_options opts{};
    int mask = 0;
    if (options_.resolv_conf) {
      opts.resolvconf_path = const_cast<char*>(options_.resolv_conf->c_str());
      mask |= ARES_OPT_RESOLVCONF;
    }
    if (options_.timeout_ms) {
      opts.timeout = *options_.timeout_ms;
      mask |= ARES_OPT_TIMEOUTMS;
    }
    if (options_.tries) {
      opts.tries = *options_.tries;
      mask |= ARES_OPT_TRIES;
    }
    if (const int st = ares_init_options(&channel_, &opts, mask); st != ARES_SUCCESS) {
      channel_ = nullptr;
      return st;
    }
    static constexpr ares_socket_functions kFunctions = {&Open, &Close, &Connect, &RecvFrom,
                                                         &SendV};
    ares_set_socket_functions(channel_, &kFunctions, this);
    if (options_.servers) return ares_set_servers_ports_csv(channel_, options_.servers->c_str());
    return ARES_SUCCESS;
  }

  ares_channel get() const { return channel_; }

  // Runs c-ares until `done` (set by the query's callback). Every wait is bounded by
  // ares_timeout, and each query by c-ares' tries, so this ends.
  void Run(const bool& done) {
    while (!done) {
      std::array<ares_socket_t, ARES_GETSOCK_MAXNUM> socks{};
      const int bits = ares_getsock(channel_, socks.data(), ARES_GETSOCK_MAXNUM);
      timeval tv{};
      const timeval* left = ares_timeout(channel_, nullptr, &tv);
      struct Want {
        ares_socket_t id;
        std::shared_ptr<OpenSocket> socket;
        uint32_t events;
      };
      absl::InlinedVector<Want, 4> wants;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        uint32_t events = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
        if (events == 0) continue;
        if (auto it = sockets_.find(socks[i]); it != sockets_.end()) {
          wants.push_back({socks[i], it->second, events});
        }
      }
      if (wants.empty() && left == nullptr) {
        // Nothing to wait for and no deadline, yet not done: end the query (its callback
        // runs with ARES_ECANCELLED) rather than wait forever.
        ares_cancel(channel_);
        continue;
      }
      Wait(wants, left);
      bool processed = false;
      for (const Want& w : wants) {
        if (!sockets_.contains(w.id)) continue;  // closed while processing another
        const uint32_t mask = w.socket->socket().Poll();
        const bool readable = (w.events & POLLIN) && (mask & (POLLIN | kAlwaysReported));
        const bool writable = (w.events & POLLOUT) && (mask & (POLLOUT | kAlwaysReported));
        if (!readable && !writable) continue;
        ares_process_fd(channel_, readable ? w.id : ARES_SOCKET_BAD,
                        writable ? w.id : ARES_SOCKET_BAD);
        processed = true;
      }
      // Nothing ready: the deadline passed (or a signal came); c-ares retries or gives up.
      if (!processed) ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    }
  }

 private:
  template <typename W>
  void Wait(const W& wants, const timeval* left) {
    WaiterLease waiter;
    waiter->Drain();
    absl::InlinedVector<std::unique_ptr<Watch>, 4> watches;
    for (const auto& w : wants) {
      watches.push_back(std::make_unique<Watch>(*waiter, w.socket->socket(), w.events));
    }
    for (const auto& w : wants) {
      if (w.socket->socket().Poll() & (w.events | kAlwaysReported)) return;
    }
    const Deadline deadline =
        left == nullptr ? Deadline() : Deadline(MonotonicNow() + absl::DurationFromTimeval(*left));
    waiter->Sleep(deadline);  // -EINTR and -ETIMEDOUT both mean: look again
  }

  static Channel* Self(void* p) { return static_cast<Channel*>(p); }

  std::shared_ptr<OpenSocket> Find(ares_socket_t id) {
    auto it = sockets_.find(id);
    return it == sockets_.end() ? nullptr : it->second;
  }

  static ares_socket_t Open(int domain, int type, int /*protocol*/, void* p) {
    Channel* self = Self(p);
    if (domain != AF_INET) {  // the stack has no IPv6: c-ares moves to the next server
      errno = EAFNOSUPPORT;
      return ARES_SOCKET_BAD;
    }
    if (self->sockets_.size() >= kMaxSockets || !self->options_.open_socket) {
      errno = EMFILE;
      return ARES_SOCKET_BAD;
    }
    int error = 0;
    std::shared_ptr<OpenSocket> s = self->options_.open_socket(type, &error);
    if (!s) {
      errno = error < 0 ? -error : EIO;
      return ARES_SOCKET_BAD;
    }
    const ares_socket_t id = self->next_id_++;
    self->sockets_.emplace(id, std::move(s));
    return id;
  }

  static int Close(ares_socket_t id, void* p) {
    // The last reference closes the socket (the shim's close hook; TCP lingers in the exit
    // drain like any other).
    if (Self(p)->sockets_.erase(id) == 0) {
      errno = EBADF;
      return -1;
    }
    return 0;
  }

  static int Connect(ares_socket_t id, const sockaddr* addr, ares_socklen_t len, void* p) {
    std::shared_ptr<OpenSocket> s = Self(p)->Find(id);
    if (!s) {
      errno = EBADF;
      return -1;
    }
    const int r = ConnectSocket(*s, addr, len);  // -EINPROGRESS for TCP, as c-ares expects
    if (r < 0) {
      errno = -r;
      return -1;
    }
    return r;
  }

  static ares_ssize_t RecvFrom(ares_socket_t id, void* buf, size_t len, int flags, sockaddr* from,
                               ares_socklen_t* from_len, void* p) {
    std::shared_ptr<OpenSocket> s = Self(p)->Find(id);
    if (!s) {
      errno = EBADF;
      return -1;
    }
    const iovec iov{buf, len};
    const ssize_t r = ReceiveMessage(*s, std::span<const iovec>(&iov, 1), flags, from,
                                     from != nullptr ? from_len : nullptr, nullptr);
    if (r < 0) {
      errno = static_cast<int>(-r);
      return -1;
    }
    return r;
  }

  static ares_ssize_t SendV(ares_socket_t id, const iovec* iov, int n, void* p) {
    std::shared_ptr<OpenSocket> s = Self(p)->Find(id);
    if (!s) {
      errno = EBADF;
      return -1;
    }
    const ssize_t r = SendMessage(*s, std::span<const iovec>(iov, static_cast<size_t>(n)), nullptr,
                                  0, MSG_NOSIGNAL);
    if (r < 0) {
      errno = static_cast<int>(-r);
      return -1;
    }
    return r;
  }

  const ResolverOptions& options_;
  ares_channel channel_ = nullptr;
  std::map<ares_socket_t, std::shared_ptr<OpenSocket>> sockets_;
  ares_socket_t next_id_ = kFirstSocketId;
};

struct AddrInfoQuery {
  bool done = false;
  int status = ARES_ECANCELLED;
  ares_addrinfo* result = nullptr;
};

void OnAddrInfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  auto* q = static_cast<AddrInfoQuery*>(arg);
  q->done = true;
  q->status = status;
  q->result = result;
}

struct HostQuery {
  bool done = false;
  int status = ARES_ECANCELLED;
  std::string name;
};

void OnHost(void* arg, int status, int /*timeouts*/, hostent* host) {
  auto* q = static_cast<HostQuery*>(arg);
  q->done = true;
  q->status = status;
  if (status == ARES_SUCCESS && host != nullptr && host->h_name != nullptr) q->name = host->h_name;
}

HostAddresses Convert(const ares_addrinfo& ai) {
  HostAddresses out;
  for (const ares_addrinfo_node* n = ai.nodes; n != nullptr; n = n->ai_next) {
    if (n->ai_family != AF_INET || n->ai_addr == nullptr) continue;
    out.addresses.push_back(reinterpret_cast<const sockaddr_in*>(n->ai_addr)->sin_addr);
  }
  // The CNAME chain in answer order: each record's owner is an alias, the last target the
  // canonical name.
  for (const ares_addrinfo_cname* c = ai.cnames; c != nullptr; c = c->next) {
    if (c->alias != nullptr) out.aliases.emplace_back(c->alias);
    if (c->name != nullptr) out.canonical = c->name;
  }
  if (out.canonical.empty() && ai.name != nullptr) out.canonical = ai.name;
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------

int ResolveAddrInfo(const char* node, const char* service, const addrinfo* hints,
                    const HostLookup& lookup, addrinfo** res) {
  if (node != nullptr && node[0] == '*' && node[1] == '\0') node = nullptr;
  if (service != nullptr && service[0] == '*' && service[1] == '\0') service = nullptr;
  if (node == nullptr && service == nullptr) return EAI_NONAME;
  addrinfo req{};
  if (hints == nullptr) {
    req.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG;  // glibc's default_hints (AI_DEFAULT)
    req.ai_family = AF_UNSPEC;
  } else {
    req.ai_flags = hints->ai_flags;
    req.ai_family = hints->ai_family;
    req.ai_socktype = hints->ai_socktype;
    req.ai_protocol = hints->ai_protocol;
  }
  if (req.ai_flags & ~kKnownAiFlags) return EAI_BADFLAGS;
  if ((req.ai_flags & AI_CANONNAME) && node == nullptr) return EAI_BADFLAGS;
  if (req.ai_family != AF_UNSPEC && req.ai_family != AF_INET && req.ai_family != AF_INET6) {
    return EAI_FAMILY;
  }
  if (req.ai_flags & AI_ADDRCONFIG) {
    // __check_pf on this host: IPv4 configured, IPv6 not.
    if (req.ai_family == AF_UNSPEC) req.ai_family = AF_INET;
    if (req.ai_family == AF_INET6) return EAI_NONAME;
  }
  int num = -1;
  if (service != nullptr && service[0] != '\0') {
    char* end = nullptr;
    // glibc keeps strtoul's result in an int: "-1" and "4294967295" become names.
    num = static_cast<int>(std::strtoul(service, &end, 10));
    if (*end != '\0') {
      if (req.ai_flags & AI_NUMERICSERV) return EAI_NONAME;
      num = -1;
    }
  } else {
    service = nullptr;
  }
  std::vector<ServTuple> tuples;
  if (const int r = ServiceTuples(service, num, req, &tuples); r != 0) return r;
  std::vector<AddrTuple> addresses;
  std::string canon;
  const int saved_errno = errno;
  if (const int r = NodeAddresses(node, req, lookup, &addresses, &canon); r != 0) return r;
  errno = saved_errno;

  addrinfo* head = nullptr;
  addrinfo** tail = &head;
  for (const AddrTuple& at : addresses) {
    for (const ServTuple& st : tuples) {
      addrinfo* ai = NewEntry(at, st, req.ai_flags);
      if (ai == nullptr) {
        FreeAddrInfo(head);
        return EAI_MEMORY;
      }
      *tail = ai;
      tail = &ai->ai_next;
    }
  }
  if (head == nullptr) return EAI_NONAME;
  if (req.ai_flags & AI_CANONNAME) {
    head->ai_canonname = strdup(canon.c_str());
    if (head->ai_canonname == nullptr) {
      FreeAddrInfo(head);
      return EAI_MEMORY;
    }
  }
  *res = head;
  return 0;
}

// glibc's freeaddrinfo, which frees our lists as well as its own (same layout).
void FreeAddrInfo(addrinfo* ai) {
  while (ai != nullptr) {
    addrinfo* next = ai->ai_next;
    std::free(ai->ai_canonname);
    std::free(ai);
    ai = next;
  }
}

int ResolveNameInfo(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen, char* serv,
                    socklen_t servlen, int flags, const AddressLookup& reverse) {
  if (flags & ~kKnownNiFlags) return EAI_BADFLAGS;
  if (sa == nullptr || salen < sizeof(sa_family_t)) return EAI_FAMILY;
  if ((flags & NI_NAMEREQD) && host == nullptr && serv == nullptr) return EAI_NONAME;
  in_addr v4{};
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    if (salen < sizeof(sockaddr_in)) return EAI_FAMILY;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    v4 = sin->sin_addr;
    port = sin->sin_port;
  } else if (sa->sa_family == AF_INET6) {
    if (salen < sizeof(sockaddr_in6)) return EAI_FAMILY;
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    // Only v4-mapped addresses: others are not this host's to resolve.
    if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) return EAI_FAMILY;
    std::memcpy(&v4, &sin6->sin6_addr.s6_addr[12], 4);
    port = sin6->sin6_port;
  } else {
    return EAI_FAMILY;
  }
  const int saved_errno = errno;
  if (host != nullptr && hostlen > 0) {
    if (const int r = NameInfoHost(sa, v4, host, hostlen, flags, reverse); r != 0) return r;
  }
  if (serv != nullptr && servlen > 0) {
    if (const int r = NameInfoService(port, serv, servlen, flags); r != 0) return r;
  }
  errno = saved_errno;
  return 0;
}

int HostErrorFor(int eai) {
  switch (eai) {
    case 0:
      return 0;
    case EAI_NONAME:
      return HOST_NOT_FOUND;
    case EAI_NODATA:
      return NO_DATA;
    case EAI_AGAIN:
      return TRY_AGAIN;
    case EAI_FAIL:
      return NO_RECOVERY;
    default:
      return NETDB_INTERNAL;  // EAI_SYSTEM, EAI_MEMORY
  }
}

int ResolveHostEnt(const char* name, int af, hostent* ret, char* buf, size_t buflen,
                   hostent** result, int* h_errnop, const HostLookup& lookup) {
  *result = nullptr;
  HostEntData data;
  int sys_errno = 0;
  if (const int herr = FindHost(name, af, lookup, &data, &sys_errno); herr != 0) {
    *h_errnop = herr;
    return HostEntReturn(herr, sys_errno);
  }
  if (PackHostEnt(data, ret, buf, buflen) != 0) {
    *h_errnop = NETDB_INTERNAL;
    return ERANGE;
  }
  *h_errnop = 0;
  *result = ret;
  return 0;
}

Resolver::Resolver(ResolverOptions options) : options_(std::move(options)) {}

HostAddresses Resolver::LookupHost(const std::string& name) const {
  HostAddresses out;
  AddrInfoQuery query;
  {
    Channel channel(options_);
    if (const int st = channel.Init(); st != ARES_SUCCESS) {
      out.error = st == ARES_ENOMEM ? EAI_MEMORY : EAI_FAIL;
      return out;
    }
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_INET;
    // NOSORT: c-ares' RFC 6724 sort opens kernel sockets of its own to find source
    // addresses; the order of the answer is kept instead.
    hints.ai_flags =
        ARES_AI_CANONNAME | ARES_AI_NOSORT | (options_.hosts_from_env ? ARES_AI_ENVHOSTS : 0);
    ares_getaddrinfo(channel.get(), name.c_str(), nullptr, &hints, &OnAddrInfo, &query);
    channel.Run(query.done);
  }
  out.error = EaiForCares(query.status);
  if (query.result != nullptr) {
    if (out.error == 0) {
      out = Convert(*query.result);
      if (out.addresses.empty()) out.error = EAI_NODATA;
    }
    ares_freeaddrinfo(query.result);
  }
  return out;
}

HostName Resolver::LookupAddress(in_addr address) const {
  HostName out;
  HostQuery query;
  {
    Channel channel(options_);
    if (const int st = channel.Init(); st != ARES_SUCCESS) {
      out.error = st == ARES_ENOMEM ? EAI_SYSTEM : EAI_AGAIN;
      out.sys_errno = st == ARES_ENOMEM ? ENOMEM : 0;
      return out;
    }
    ares_gethostbyaddr(channel.get(), &address, sizeof(address), AF_INET, &OnHost, &query);
    channel.Run(query.done);
  }
  const int eai = EaiForCares(query.status);
  // getnameinfo only tells "try again" from "no name" (then the number is used).
  out.error = eai == 0 || eai == EAI_AGAIN ? eai : EAI_NONAME;
  out.name = std::move(query.name);
  return out;
}

int Resolver::GetAddrInfo(const char* node, const char* service, const addrinfo* hints,
                          addrinfo** res) const {
  return ResolveAddrInfo(
      node, service, hints, [this](const std::string& name) { return LookupHost(name); }, res);
}

int Resolver::GetNameInfo(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                          char* serv, socklen_t servlen, int flags) const {
  return ResolveNameInfo(sa, salen, host, hostlen, serv, servlen, flags,
                         [this](in_addr a) { return LookupAddress(a); });
}

int Resolver::GetHostByName2R(const char* name, int af, hostent* ret, char* buf, size_t buflen,
                              hostent** result, int* h_errnop) const {
  return ResolveHostEnt(name, af, ret, buf, buflen, result, h_errnop,
                        [this](const std::string& n) { return LookupHost(n); });
}

hostent* Resolver::GetHostByName2(const char* name, int af, int* h_errnop) const {
  // glibc's gethostbyname keeps one static result per thread-unsafe call; per thread is
  // at least as good and costs nothing here.
  struct Storage {
    hostent entry{};
    std::vector<char> buffer;
  };
  thread_local Storage storage;
  HostEntData data;
  int sys_errno = 0;
  if (const int herr = FindHost(
          name, af, [this](const std::string& n) { return LookupHost(n); }, &data, &sys_errno);
      herr != 0) {
    *h_errnop = herr;
    if (herr == NETDB_INTERNAL) errno = sys_errno;
    return nullptr;
  }
  constexpr size_t kMaxBuffer = 1 << 20;
  if (storage.buffer.empty()) storage.buffer.resize(1024);
  while (PackHostEnt(data, &storage.entry, storage.buffer.data(), storage.buffer.size()) != 0) {
    if (storage.buffer.size() >= kMaxBuffer) {
      *h_errnop = NETDB_INTERNAL;
      errno = ENOMEM;
      return nullptr;
    }
    storage.buffer.resize(storage.buffer.size() * 2);
  }
  *h_errnop = 0;
  return &storage.entry;
}

}  // namespace netshim
