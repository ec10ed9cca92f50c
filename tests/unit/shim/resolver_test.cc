#include "shim/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "stack/socket/iov.h"

namespace netshim {
namespace {

using ::testing::ElementsAre;

// ---------------------------------------------------------------------------------------
// Helpers

in_addr Ip(const char* text) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
  return a;
}

// One addrinfo entry flattened, for comparisons.
struct Entry {
  int flags, family, socktype, protocol;
  std::string addr;  // the sockaddr's bytes
  std::string canon;
  bool operator<(const Entry& o) const {
    return std::tie(family, addr, socktype, protocol, flags, canon) <
           std::tie(o.family, o.addr, o.socktype, o.protocol, o.flags, o.canon);
  }
  bool operator==(const Entry& o) const = default;
};

std::vector<Entry> Flatten(const addrinfo* ai) {
  std::vector<Entry> out;
  for (; ai != nullptr; ai = ai->ai_next) {
    out.push_back({ai->ai_flags, ai->ai_family, ai->ai_socktype, ai->ai_protocol,
                   std::string(reinterpret_cast<const char*>(ai->ai_addr), ai->ai_addrlen),
                   ai->ai_canonname != nullptr ? ai->ai_canonname : "<null>"});
  }
  return out;
}

std::string Describe(const std::vector<Entry>& entries) {
  std::string s;
  for (const Entry& e : entries) {
    char text[INET6_ADDRSTRLEN] = "?";
    const auto* sa = reinterpret_cast<const sockaddr*>(e.addr.data());
    int port = 0;
    if (e.family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, text, sizeof(text));
      port = ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
    } else if (e.family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, text,
                sizeof(text));
      port = ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
    }
    // fmt, not operator+: g++ 12 at -O3 warns falsely (-Wrestrict) on "literal" + string.
    s += fmt::format("{{{} {}:{} type {} proto {} flags {} canon {}}} ", e.family, text, port,
                     e.socktype, e.protocol, e.flags, e.canon);
  }
  return s;
}

// Results, built without designated initializers (-Wmissing-field-initializers).
HostAddresses Err(int error, int sys_errno = 0) {
  HostAddresses h;
  h.error = error;
  h.sys_errno = sys_errno;
  return h;
}
HostAddresses Found(std::string canonical, std::vector<std::string> aliases,
                    std::vector<in_addr> addresses) {
  HostAddresses h;
  h.canonical = std::move(canonical);
  h.aliases = std::move(aliases);
  h.addresses = std::move(addresses);
  return h;
}
HostName NameErr(int error, int sys_errno = 0) {
  HostName h;
  h.error = error;
  h.sys_errno = sys_errno;
  return h;
}
HostName Named(std::string name) {
  HostName h;
  h.name = std::move(name);
  return h;
}

// A lookup that must not be asked (numeric hosts, null hosts, refused names).
HostAddresses NoLookup(const std::string& name) {
  ADD_FAILURE() << "unexpected lookup of '" << name << "'";
  return Err(EAI_FAIL);
}

HostName NoReverse(in_addr) {
  ADD_FAILURE() << "unexpected reverse lookup";
  return NameErr(EAI_FAIL);
}

// A table of names, counting lookups.
class FakeDns {
 public:
  void Add(const std::string& name, HostAddresses answer) { table_[name] = std::move(answer); }
  HostLookup lookup() {
    return [this](const std::string& name) {
      asked_.push_back(name);
      auto it = table_.find(name);
      if (it == table_.end()) return Err(EAI_NONAME);
      return it->second;
    };
  }
  const std::vector<std::string>& asked() const { return asked_; }

 private:
  std::map<std::string, HostAddresses> table_;
  std::vector<std::string> asked_;
};

struct Result {
  int rc;
  std::vector<Entry> entries;
};

Result Ours(const char* node, const char* service, const addrinfo* hints,
            const HostLookup& lookup = NoLookup) {
  addrinfo* res = nullptr;
  const int rc = ResolveAddrInfo(node, service, hints, lookup, &res);
  Result r{rc, Flatten(res)};
  if (rc == 0) {
    // glibc's freeaddrinfo frees our lists (same layout); ASan checks it.
    ::freeaddrinfo(res);
  } else {
    EXPECT_EQ(res, nullptr);
  }
  return r;
}

Result Glibc(const char* node, const char* service, const addrinfo* hints) {
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(node, service, hints, &res);
  Result r{rc, Flatten(rc == 0 ? res : nullptr)};
  if (rc == 0) FreeAddrInfo(res);  // ours frees glibc's too
  return r;
}

addrinfo Hints(int family, int flags = 0, int socktype = 0, int protocol = 0) {
  addrinfo h{};
  h.ai_family = family;
  h.ai_flags = flags;
  h.ai_socktype = socktype;
  h.ai_protocol = protocol;
  return h;
}

// ---------------------------------------------------------------------------------------
// getaddrinfo against glibc itself, for everything that needs no name server: numeric
// hosts, a null host, service names and numbers, every flag but AI_ADDRCONFIG (which
// asks the kernel's interfaces, not ours), socket types and protocols.

TEST(ResolverAddrInfo, MatchesGlibcWithoutNetwork) {
  const char* nodes[] = {nullptr,       "1.2.3.4", "127.1",     "0x7f.0.0.1", "10.1.2",
                         "0",           "::1",     "fe80::1%1", "fe80::1%lo", "::ffff:1.2.3.4",
                         "2001:db8::7", "*",       "1.2.3.4 ",  "256.1.1.1",  "fe80::1%nosuchif",
                         "1.2.3.4.5",   "::1%",    "web.test"};
  const char* services[] = {nullptr, "80", "http", "domain",        "0", "65535",
                            "65536", "-1", "",     "nosuchservice", "*", " 80"};
  const int families[] = {AF_UNSPEC, AF_INET, AF_INET6};
  const int flag_sets[] = {0,
                           AI_PASSIVE,
                           AI_CANONNAME,
                           AI_V4MAPPED,
                           AI_V4MAPPED | AI_ALL,
                           AI_NUMERICSERV,
                           AI_CANONNAME | AI_PASSIVE | AI_V4MAPPED};
  const std::pair<int, int> types[] = {{0, 0},
                                       {SOCK_STREAM, 0},
                                       {SOCK_DGRAM, 0},
                                       {SOCK_RAW, 0},
                                       {SOCK_SEQPACKET, 0},
                                       {0, IPPROTO_UDP},
                                       {0, IPPROTO_SCTP},
                                       {SOCK_STREAM, IPPROTO_UDP},
                                       {SOCK_RAW, 99},
                                       {0, 99}};
  int compared = 0;
  for (const char* node : nodes) {
    for (const char* service : services) {
      for (const int family : families) {
        for (const int flags : flag_sets) {
          for (const auto& [socktype, protocol] : types) {
            // Always numeric-only, so glibc never asks a name server either.
            const addrinfo h = Hints(family, flags | AI_NUMERICHOST, socktype, protocol);
            const Result want = Glibc(node, service, &h);
            const Result got = Ours(node, service, &h);
            std::vector<Entry> want_sorted = want.entries, got_sorted = got.entries;
            // glibc sorts several addresses by RFC 3484 (only the null host has several).
            std::sort(want_sorted.begin(), want_sorted.end());
            std::sort(got_sorted.begin(), got_sorted.end());
            ASSERT_EQ(got.rc, want.rc)
                << "node " << (node ? node : "NULL") << " service " << (service ? service : "NULL")
                << " family " << family << " flags " << flags << " type " << socktype << "/"
                << protocol << ": glibc " << gai_strerror(want.rc) << ", ours "
                << gai_strerror(got.rc);
            ASSERT_EQ(got_sorted, want_sorted)
                << "node " << (node ? node : "NULL") << " service " << (service ? service : "NULL")
                << " family " << family << " flags " << flags << " type " << socktype << "/"
                << protocol << "\n glibc " << Describe(want.entries) << "\n ours  "
                << Describe(got.entries);
            if (node != nullptr && std::strcmp(node, "*") != 0 && got.rc == 0) {
              EXPECT_EQ(got.entries, want.entries);
            }
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 10000);
}

TEST(ResolverAddrInfo, EarlyErrorsMatchGlibc) {
  struct Case {
    const char* node;
    const char* service;
    addrinfo hints;
  };
  const Case cases[] = {
      {nullptr, nullptr, Hints(AF_INET)},                       // EAI_NONAME
      {"*", "*", Hints(AF_INET)},                               // both wildcards: none
      {"1.2.3.4", "80", Hints(AF_INET, 0x10000)},               // EAI_BADFLAGS
      {nullptr, "80", Hints(AF_INET, AI_CANONNAME)},            // canonname without a host
      {"1.2.3.4", "80", Hints(AF_UNIX)},                        // EAI_FAMILY
      {"1.2.3.4", "80", Hints(12345)},                          // EAI_FAMILY
      {"1.2.3.4", "http", Hints(AF_INET, AI_NUMERICSERV)},      // EAI_NONAME
      {"1.2.3.4", "80", Hints(AF_INET, 0, SOCK_PACKET)},        // EAI_SOCKTYPE
      {"1.2.3.4", "http", Hints(AF_INET, 0, SOCK_RAW)},         // EAI_SERVICE
      {"1.2.3.4", "nosuchservice", Hints(AF_INET)},             // EAI_SERVICE
      {"1.2.3.4", "http", Hints(AF_INET, 0, SOCK_DGRAM, 136)},  // no http/udplite
  };
  for (const Case& c : cases) {
    const Result want = Glibc(c.node, c.service, &c.hints);
    const Result got = Ours(c.node, c.service, &c.hints);
    EXPECT_NE(want.rc, 0);
    EXPECT_EQ(got.rc, want.rc) << (c.node ? c.node : "NULL") << " "
                               << (c.service ? c.service : "NULL") << ": glibc "
                               << gai_strerror(want.rc) << ", ours " << gai_strerror(got.rc);
  }
}

// ---------------------------------------------------------------------------------------
// Names, through a fake lookup.

sockaddr_in V4(const Entry& e) {
  sockaddr_in sin{};
  EXPECT_EQ(e.addr.size(), sizeof(sin));
  std::memcpy(&sin, e.addr.data(), std::min(e.addr.size(), sizeof(sin)));
  return sin;
}

std::string Text(const Entry& e) {
  char text[INET6_ADDRSTRLEN] = "";
  if (e.family == AF_INET) {
    const sockaddr_in sin = V4(e);
    inet_ntop(AF_INET, &sin.sin_addr, text, sizeof(text));
    return std::string(text) + ":" + std::to_string(ntohs(sin.sin_port));
  }
  sockaddr_in6 sin6{};
  EXPECT_EQ(e.addr.size(), sizeof(sin6));
  std::memcpy(&sin6, e.addr.data(), std::min(e.addr.size(), sizeof(sin6)));
  inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof(text));
  return "[" + std::string(text) + "]:" + std::to_string(ntohs(sin6.sin6_port));
}

class ResolverNames : public ::testing::Test {
 protected:
  void SetUp() override {
    dns_.Add("web.test",
             Found("real.web.test", {"web.test"}, {Ip("198.18.0.1"), Ip("198.18.0.7")}));
    dns_.Add("slow.test", Err(EAI_AGAIN));
    dns_.Add("v6only.test", Err(EAI_NODATA));
    dns_.Add("broken.test", Err(EAI_SYSTEM, EMFILE));
  }
  FakeDns dns_;
};

TEST_F(ResolverNames, UnspecGivesEveryIpv4AddressForEachSocketType) {
  const addrinfo h = Hints(AF_UNSPEC);
  const Result r = Ours("web.test", "80", &h, dns_.lookup());
  ASSERT_EQ(r.rc, 0);
  ASSERT_EQ(r.entries.size(), 6u);  // glibc order: address-major, then tcp, udp, raw
  const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_RAW};
  const int protos[] = {IPPROTO_TCP, IPPROTO_UDP, 0};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(r.entries[i].family, AF_INET);
    EXPECT_EQ(r.entries[i].socktype, types[i % 3]);
    EXPECT_EQ(r.entries[i].protocol, protos[i % 3]);
    EXPECT_EQ(r.entries[i].canon, "<null>");
    EXPECT_EQ(Text(r.entries[i]), i < 3 ? "198.18.0.1:80" : "198.18.0.7:80");
  }
  EXPECT_THAT(dns_.asked(), ElementsAre("web.test"));
}

TEST_F(ResolverNames, CanonNameOnTheFirstEntryOnly) {
  const addrinfo h = Hints(AF_INET, AI_CANONNAME, SOCK_STREAM);
  const Result r = Ours("web.test", "http", &h, dns_.lookup());
  ASSERT_EQ(r.rc, 0);
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].canon, "real.web.test");
  EXPECT_EQ(r.entries[1].canon, "<null>");
  EXPECT_EQ(r.entries[0].flags, AI_CANONNAME);
  EXPECT_EQ(Text(r.entries[1]), "198.18.0.7:80");
}

TEST_F(ResolverNames, Inet6GetsMappedAddressesOnlyWithV4Mapped) {
  const addrinfo mapped = Hints(AF_INET6, AI_V4MAPPED, SOCK_DGRAM);
  Result r = Ours("web.test", "53", &mapped, dns_.lookup());
  ASSERT_EQ(r.rc, 0);
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].family, AF_INET6);
  EXPECT_EQ(Text(r.entries[0]), "[::ffff:198.18.0.1]:53");

  // No IPv6 here: plain AF_INET6 finds nothing, without asking anyone.
  const addrinfo plain = Hints(AF_INET6);
  r = Ours("web.test", "53", &plain, dns_.lookup());
  EXPECT_EQ(r.rc, EAI_NONAME);
  // AI_ADDRCONFIG: this host has IPv4 and no IPv6 (glibc's __check_pf).
  const addrinfo config6 = Hints(AF_INET6, AI_ADDRCONFIG | AI_V4MAPPED);
  EXPECT_EQ(Ours("web.test", "53", &config6, dns_.lookup()).rc, EAI_NONAME);
  EXPECT_EQ(Ours("::1", "53", &config6).rc, EAI_NONAME);
  EXPECT_THAT(dns_.asked(), ElementsAre("web.test"));
}

TEST_F(ResolverNames, NullHintsAreAddrConfigAndV4Mapped) {
  Result r = Ours("web.test", nullptr, nullptr, dns_.lookup());
  ASSERT_EQ(r.rc, 0);
  ASSERT_EQ(r.entries.size(), 6u);
  EXPECT_EQ(r.entries[0].flags, AI_V4MAPPED | AI_ADDRCONFIG);
  EXPECT_EQ(Text(r.entries[0]), "198.18.0.1:0");
  // AI_ADDRCONFIG turns AF_UNSPEC into AF_INET: an IPv6 literal has the wrong family.
  EXPECT_EQ(Ours("::1", "80", nullptr).rc, EAI_ADDRFAMILY);
  r = Ours(nullptr, "80", nullptr);
  ASSERT_EQ(r.rc, 0);
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(Text(r.entries[0]), "127.0.0.1:80");
}

TEST_F(ResolverNames, NullHostListsIpv4First) {
  const addrinfo h = Hints(AF_UNSPEC, AI_PASSIVE, SOCK_STREAM);
  const Result r = Ours(nullptr, "8080", &h);
  ASSERT_EQ(r.rc, 0);
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(Text(r.entries[0]), "0.0.0.0:8080");
  EXPECT_EQ(Text(r.entries[1]), "[::]:8080");
}

TEST_F(ResolverNames, LookupErrorsPassThrough) {
  const addrinfo h = Hints(AF_UNSPEC);
  EXPECT_EQ(Ours("nosuch.test", "80", &h, dns_.lookup()).rc, EAI_NONAME);
  EXPECT_EQ(Ours("slow.test", "80", &h, dns_.lookup()).rc, EAI_AGAIN);
  EXPECT_EQ(Ours("v6only.test", "80", &h, dns_.lookup()).rc, EAI_NODATA);
  errno = 0;
  EXPECT_EQ(Ours("broken.test", "80", &h, dns_.lookup()).rc, EAI_SYSTEM);
  EXPECT_EQ(errno, EMFILE);
  // A lookup that "succeeds" with no address is no data.
  dns_.Add("empty.test", HostAddresses{});
  EXPECT_EQ(Ours("empty.test", "80", &h, dns_.lookup()).rc, EAI_NODATA);
  // The service is checked before anyone is asked.
  EXPECT_EQ(Ours("web.test", "nosuchservice", &h, dns_.lookup()).rc, EAI_SERVICE);
  EXPECT_THAT(dns_.asked(),
              ElementsAre("nosuch.test", "slow.test", "v6only.test", "broken.test", "empty.test"));
}

TEST_F(ResolverNames, NumericHostRefusesNames) {
  const addrinfo h = Hints(AF_UNSPEC, AI_NUMERICHOST);
  EXPECT_EQ(Ours("web.test", "80", &h, dns_.lookup()).rc, EAI_NONAME);
  EXPECT_TRUE(dns_.asked().empty());
}

TEST_F(ResolverNames, LocalhostNeedsNoLookup) {
  const addrinfo h = Hints(AF_UNSPEC, AI_CANONNAME, SOCK_STREAM);
  for (const char* name : {"localhost", "LocalHost.", "foo.localhost", "a.b.localhost."}) {
    const Result r = Ours(name, "80", &h, dns_.lookup());
    ASSERT_EQ(r.rc, 0) << name;
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(Text(r.entries[0]), "127.0.0.1:80");
    EXPECT_EQ(r.entries[0].canon, name);
  }
  // Not "localhost" names: looked up.
  for (const char* name : {"notlocalhost", "localhost.test"}) {
    EXPECT_EQ(Ours(name, "80", &h, dns_.lookup()).rc, EAI_NONAME);
  }
  EXPECT_THAT(dns_.asked(), ElementsAre("notlocalhost", "localhost.test"));
}

TEST_F(ResolverNames, HostileNamesAreRefusedWithoutALookup) {
  const addrinfo h = Hints(AF_UNSPEC);
  const std::string label63(63, 'a'), label64(64, 'a');
  std::string long_name;  // 4 * 64 - 1 = 255 characters
  for (int i = 0; i < 4; ++i) long_name += (i ? "." : "") + label63;
  const std::string max_name = long_name.substr(0, 253);  // 253 characters: allowed
  const std::string hostile[] = {"",
                                 ".",
                                 "..",
                                 "a..b",
                                 ".a",
                                 "a b",
                                 "a\tb",
                                 "a\nb",
                                 "a\rb.test",
                                 "\x7f",
                                 label64,
                                 label64 + ".test",
                                 long_name,
                                 long_name + ".",
                                 std::string("a\0b", 3)};
  for (const std::string& name : hostile) {
    EXPECT_EQ(Ours(name.c_str(), "80", &h, dns_.lookup()).rc,
              name == std::string("a\0b", 3) ? EAI_NONAME : EAI_NONAME)
        << "'" << name << "'";
  }
  // "a\0b" is "a" to C: a name like any other, looked up.
  EXPECT_THAT(dns_.asked(), ElementsAre("a"));
  // The longest names and labels the DNS allows are asked for.
  EXPECT_EQ(Ours(max_name.c_str(), "80", &h, dns_.lookup()).rc, EAI_NONAME);
  EXPECT_EQ(Ours((label63 + ".test.").c_str(), "80", &h, dns_.lookup()).rc, EAI_NONAME);
  EXPECT_EQ(Ours("under_score.test", "80", &h, dns_.lookup()).rc, EAI_NONAME);
  EXPECT_EQ(Ours("\xc3\xa9t\xc3\xa9.test", "80", &h, dns_.lookup()).rc, EAI_NONAME);
  EXPECT_EQ(dns_.asked().size(), 5u);
}

// ---------------------------------------------------------------------------------------
// getnameinfo

sockaddr_in Sin(const char* ip, uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr = Ip(ip);
  return sin;
}

struct NameInfoResult {
  int rc;
  std::string host, serv;
};

template <typename F>
NameInfoResult CallNameInfo(F f, const sockaddr* sa, socklen_t len, socklen_t hostlen,
                            socklen_t servlen, int flags) {
  std::vector<char> host(hostlen + 1, '#'), serv(servlen + 1, '#');
  const int rc = f(sa, len, hostlen ? host.data() : nullptr, hostlen,
                   servlen ? serv.data() : nullptr, servlen, flags);
  NameInfoResult r{rc, "", ""};
  if (rc == 0 && hostlen) r.host = host.data();
  if (rc == 0 && servlen) r.serv = serv.data();
  return r;
}

TEST(ResolverNameInfo, NumericMatchesGlibcAtEveryBufferSize) {
  auto ours = [](const sockaddr* sa, socklen_t len, char* h, socklen_t hl, char* s, socklen_t sl,
                 int flags) { return ResolveNameInfo(sa, len, h, hl, s, sl, flags, NoReverse); };
  auto glibc = [](const sockaddr* sa, socklen_t len, char* h, socklen_t hl, char* s, socklen_t sl,
                  int flags) { return ::getnameinfo(sa, len, h, hl, s, sl, flags); };
  const sockaddr_in addrs[] = {Sin("198.18.0.1", 80), Sin("0.0.0.0", 0),
                               Sin("255.255.255.255", 65535), Sin("10.0.0.1", 53)};
  for (const sockaddr_in& sin : addrs) {
    const auto* sa = reinterpret_cast<const sockaddr*>(&sin);
    for (const int flags : {NI_NUMERICHOST | NI_NUMERICSERV, NI_NUMERICHOST,
                            NI_NUMERICHOST | NI_DGRAM, NI_NUMERICHOST | NI_NOFQDN}) {
      for (socklen_t hostlen = 0; hostlen <= 17; ++hostlen) {
        for (const socklen_t servlen : {0, 1, 2, 3, 5, 6, 32}) {
          const NameInfoResult want = CallNameInfo(glibc, sa, sizeof(sin), hostlen, servlen, flags);
          const NameInfoResult got = CallNameInfo(ours, sa, sizeof(sin), hostlen, servlen, flags);
          EXPECT_EQ(got.rc, want.rc) << "flags " << flags << " hostlen " << hostlen << " servlen "
                                     << servlen << ": glibc " << gai_strerror(want.rc);
          EXPECT_EQ(got.host, want.host);
          EXPECT_EQ(got.serv, want.serv);
        }
      }
    }
  }
}

TEST(ResolverNameInfo, ArgumentErrorsMatchGlibc) {
  auto ours = [](const sockaddr* sa, socklen_t len, char* h, socklen_t hl, char* s, socklen_t sl,
                 int flags) { return ResolveNameInfo(sa, len, h, hl, s, sl, flags, NoReverse); };
  auto glibc = [](const sockaddr* sa, socklen_t len, char* h, socklen_t hl, char* s, socklen_t sl,
                  int flags) { return ::getnameinfo(sa, len, h, hl, s, sl, flags); };
  const sockaddr_in sin = Sin("1.2.3.4", 80);
  const auto* sa = reinterpret_cast<const sockaddr*>(&sin);
  sockaddr_in bad = sin;
  bad.sin_family = 12345;
  const int numeric = NI_NUMERICHOST | NI_NUMERICSERV;
  struct Case {
    const sockaddr* sa;
    socklen_t len, hostlen, servlen;
    int flags;
  };
  const Case cases[] = {
      {sa, sizeof(sin), 64, 32, 0x100000},     // EAI_BADFLAGS
      {nullptr, 0, 64, 32, numeric},           // EAI_FAMILY
      {sa, 1, 64, 32, numeric},                // too short for a family
      {sa, sizeof(sin) - 1, 64, 32, numeric},  // too short for sockaddr_in
      {reinterpret_cast<const sockaddr*>(&bad), sizeof(bad), 64, 32, numeric},
      {sa, sizeof(sin), 0, 0, numeric | NI_NAMEREQD},           // EAI_NONAME
      {sa, sizeof(sin), 64, 32, NI_NUMERICHOST | NI_NAMEREQD},  // names required, numeric
      {sa, sizeof(sin), 0, 0, numeric},                         // nothing asked: 0
  };
  for (const Case& c : cases) {
    const NameInfoResult want = CallNameInfo(glibc, c.sa, c.len, c.hostlen, c.servlen, c.flags);
    const NameInfoResult got = CallNameInfo(ours, c.sa, c.len, c.hostlen, c.servlen, c.flags);
    EXPECT_EQ(got.rc, want.rc) << "flags " << c.flags << " len " << c.len << ": glibc "
                               << gai_strerror(want.rc) << ", ours " << gai_strerror(got.rc);
  }
}

TEST(ResolverNameInfo, NamesFromTheReverseLookup) {
  int asked = 0;
  auto reverse = [&asked](in_addr a) {
    ++asked;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, text, sizeof(text));
    if (std::string(text) == "198.18.0.1") return Named("web.test");
    if (std::string(text) == "198.18.0.9") return NameErr(EAI_AGAIN);
    if (std::string(text) == "198.18.0.8") return NameErr(EAI_SYSTEM, EMFILE);
    return NameErr(EAI_NONAME);
  };
  auto call = [&](const sockaddr* sa, socklen_t len, socklen_t hostlen, socklen_t servlen,
                  int flags) {
    return CallNameInfo(
        [&](const sockaddr* s, socklen_t l, char* h, socklen_t hl, char* sv, socklen_t sl, int f) {
          return ResolveNameInfo(s, l, h, hl, sv, sl, f, reverse);
        },
        sa, len, hostlen, servlen, flags);
  };
  sockaddr_in sin = Sin("198.18.0.1", 53);
  const auto* sa = reinterpret_cast<const sockaddr*>(&sin);
  NameInfoResult r = call(sa, sizeof(sin), 64, 32, 0);
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.host, "web.test");
  EXPECT_EQ(r.serv, "domain");
  r = call(sa, sizeof(sin), 64, 32, NI_DGRAM | NI_NAMEREQD);
  EXPECT_EQ(r.serv, "domain");
  // "web.test" needs 9 bytes.
  EXPECT_EQ(call(sa, sizeof(sin), 9, 0, 0).rc, 0);
  EXPECT_EQ(call(sa, sizeof(sin), 8, 0, 0).rc, EAI_OVERFLOW);
  EXPECT_EQ(call(sa, sizeof(sin), 64, 7, 0).rc, 0);  // "domain" and its NUL
  EXPECT_EQ(call(sa, sizeof(sin), 64, 6, 0).rc, EAI_OVERFLOW);
  // An unnamed address: the number, unless names are required.
  sin = Sin("198.18.0.2", 9999);
  r = call(sa, sizeof(sin), 64, 32, 0);
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.host, "198.18.0.2");
  EXPECT_EQ(r.serv, "9999");
  EXPECT_EQ(call(sa, sizeof(sin), 64, 32, NI_NAMEREQD).rc, EAI_NONAME);
  // No answer in time is an error even without NI_NAMEREQD (glibc gni_host_inet_name).
  sin = Sin("198.18.0.9", 80);
  EXPECT_EQ(call(sa, sizeof(sin), 64, 32, 0).rc, EAI_AGAIN);
  sin = Sin("198.18.0.8", 80);
  errno = 0;
  EXPECT_EQ(call(sa, sizeof(sin), 64, 32, 0).rc, EAI_SYSTEM);
  EXPECT_EQ(errno, EMFILE);
  const int before = asked;
  EXPECT_EQ(call(sa, sizeof(sin), 64, 32, NI_NUMERICHOST).rc, 0);
  EXPECT_EQ(asked, before);

  // A v4-mapped IPv6 address is looked up as the IPv4 one, and written as IPv6.
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(80);
  inet_pton(AF_INET6, "::ffff:198.18.0.1", &sin6.sin6_addr);
  r = call(reinterpret_cast<const sockaddr*>(&sin6), sizeof(sin6), 64, 32, 0);
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.host, "web.test");
  EXPECT_EQ(r.serv, "http");
  inet_pton(AF_INET6, "::ffff:198.18.0.2", &sin6.sin6_addr);
  r = call(reinterpret_cast<const sockaddr*>(&sin6), sizeof(sin6), 64, 32, 0);
  EXPECT_EQ(r.host, "::ffff:198.18.0.2");
  // Real IPv6 is not ours (the shim leaves it to glibc).
  inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
  EXPECT_EQ(call(reinterpret_cast<const sockaddr*>(&sin6), sizeof(sin6), 64, 32, 0).rc, EAI_FAMILY);
}

// ---------------------------------------------------------------------------------------
// gethostbyname2_r

TEST(ResolverHostEnt, NumericMatchesGlibcAndEveryShortBufferIsErange) {
  for (const auto& [name, af] : std::vector<std::pair<const char*, int>>{{"1.2.3.4", AF_INET},
                                                                         {"127.1", AF_INET},
                                                                         {"::1", AF_INET6},
                                                                         {"2001:db8::1", AF_INET6},
                                                                         {"1.2.3.4.5", AF_INET},
                                                                         {"::1", AF_INET},
                                                                         {"1.2.3.4", AF_INET6},
                                                                         {"999.1.1.1", AF_INET}}) {
    hostent want{}, got{};
    hostent *want_result = nullptr, *got_result = nullptr;
    char want_buf[1024], got_buf[1024];
    int want_herr = 0, got_herr = 0;
    const int want_rc =
        ::gethostbyname2_r(name, af, &want, want_buf, sizeof(want_buf), &want_result, &want_herr);
    const int got_rc =
        ResolveHostEnt(name, af, &got, got_buf, sizeof(got_buf), &got_result, &got_herr, NoLookup);
    EXPECT_EQ(got_rc, want_rc) << name;
    ASSERT_EQ(got_result != nullptr, want_result != nullptr) << name;
    if (want_result == nullptr) {
      EXPECT_EQ(got_herr, want_herr) << name;
      continue;
    }
    EXPECT_STREQ(got.h_name, want.h_name);
    EXPECT_EQ(got.h_addrtype, want.h_addrtype);
    EXPECT_EQ(got.h_length, want.h_length);
    EXPECT_EQ(got.h_aliases[0], nullptr);
    ASSERT_NE(got.h_addr_list[0], nullptr);
    EXPECT_EQ(std::memcmp(got.h_addr_list[0], want.h_addr_list[0], want.h_length), 0);
    EXPECT_EQ(got.h_addr_list[1], nullptr);
  }
}

TEST(ResolverHostEnt, NamesAliasesAndBufferLimits) {
  FakeDns dns;
  dns.Add("www.test",
          Found("web.test", {"www.test", "w3.test"}, {Ip("198.18.0.1"), Ip("198.18.0.7")}));
  // Every size up to the one needed is ERANGE, for any alignment of the buffer; then the
  // entry is whole and nothing is written past the buffer (ASan, and the guard byte).
  size_t needed = 0;
  for (size_t offset = 0; offset < sizeof(char*); ++offset) {
    for (size_t len = 0; len < 256; ++len) {
      std::vector<char> buf(offset + len + 1, '\x5a');
      hostent ent{};
      hostent* result = reinterpret_cast<hostent*>(1);
      int herr = -1;
      const int rc = ResolveHostEnt("www.test", AF_INET, &ent, buf.data() + offset, len, &result,
                                    &herr, dns.lookup());
      EXPECT_EQ(buf[offset + len], '\x5a');
      if (rc == ERANGE) {
        EXPECT_EQ(result, nullptr);
        EXPECT_EQ(herr, NETDB_INTERNAL);
        continue;
      }
      ASSERT_EQ(rc, 0);
      if (offset == 0) needed = len;
      ASSERT_EQ(result, &ent);
      EXPECT_STREQ(ent.h_name, "web.test");
      ASSERT_NE(ent.h_aliases[0], nullptr);
      EXPECT_STREQ(ent.h_aliases[0], "www.test");
      EXPECT_STREQ(ent.h_aliases[1], "w3.test");
      EXPECT_EQ(ent.h_aliases[2], nullptr);
      EXPECT_EQ(ent.h_addrtype, AF_INET);
      EXPECT_EQ(ent.h_length, 4);
      EXPECT_EQ(std::memcmp(ent.h_addr_list[1], "\xc6\x12\x00\x07", 4), 0);
      EXPECT_EQ(ent.h_addr_list[2], nullptr);
      break;
    }
  }
  EXPECT_GT(needed, 0u);
}

TEST(ResolverHostEnt, ErrorsSetHErrno) {
  FakeDns dns;
  dns.Add("slow.test", Err(EAI_AGAIN));
  dns.Add("nodata.test", Err(EAI_NODATA));
  dns.Add("bad.test", Err(EAI_FAIL));
  dns.Add("sys.test", Err(EAI_SYSTEM, EMFILE));
  struct Case {
    const char* name;
    int af, rc, herr;
  };
  const Case cases[] = {
      {"nosuch.test", AF_INET, 0, HOST_NOT_FOUND},
      {"slow.test", AF_INET, EAGAIN, TRY_AGAIN},
      {"nodata.test", AF_INET, 0, NO_DATA},
      {"bad.test", AF_INET, 0, NO_RECOVERY},
      {"sys.test", AF_INET, EMFILE, NETDB_INTERNAL},
      {"web.test", AF_INET6, 0, HOST_NOT_FOUND},
      {"web.test", AF_UNIX, EAFNOSUPPORT, NETDB_INTERNAL},
      {"a b", AF_INET, 0, HOST_NOT_FOUND},
  };
  for (const Case& c : cases) {
    hostent ent{};
    hostent* result = &ent;
    char buf[512];
    int herr = -1;
    EXPECT_EQ(ResolveHostEnt(c.name, c.af, &ent, buf, sizeof(buf), &result, &herr, dns.lookup()),
              c.rc)
        << c.name;
    EXPECT_EQ(result, nullptr);
    EXPECT_EQ(herr, c.herr) << c.name;
  }
  // Neither the IPv6 query nor the AF_UNIX one nor "a b" asked.
  EXPECT_THAT(dns.asked(),
              ElementsAre("nosuch.test", "slow.test", "nodata.test", "bad.test", "sys.test"));
}

TEST(ResolverHostEnt, StaticEntryPerThread) {
  const Resolver resolver{ResolverOptions{}};
  int herr = -1;
  hostent* a = resolver.GetHostByName2("10.0.0.1", AF_INET, &herr);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(herr, 0);
  EXPECT_STREQ(a->h_name, "10.0.0.1");
  // A long name grows the thread's buffer.
  const std::string long_v6 = "0000:0000:0000:0000:0000:0000:0000:0001";
  hostent* b = resolver.GetHostByName2(long_v6.c_str(), AF_INET6, &herr);
  ASSERT_EQ(b, a);
  EXPECT_EQ(b->h_name, long_v6);
  EXPECT_EQ(resolver.GetHostByName2("1.2.3.4", AF_INET6, &herr), nullptr);
  EXPECT_EQ(herr, HOST_NOT_FOUND);
  hostent* localhost = resolver.GetHostByName2("localhost", AF_INET, &herr);
  ASSERT_NE(localhost, nullptr);
  EXPECT_EQ(std::memcmp(localhost->h_addr_list[0], "\x7f\x00\x00\x01", 4), 0);
}

// ---------------------------------------------------------------------------------------
// c-ares over sockets: a name server behind a Socket, as the stack's would be.

// One DNS name in a message at `at`: its labels joined by dots (no compression: queries
// have none).
std::string ReadQueryName(const std::string& msg, size_t* at) {
  std::string name;
  while (*at < msg.size()) {
    const auto len = static_cast<uint8_t>(msg[*at]);
    ++*at;
    if (len == 0) break;
    if (!name.empty()) name += '.';
    name += msg.substr(*at, len);
    *at += len;
  }
  return name;
}

void Put16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

void PutName(std::string& out, const std::string& name) {
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out += static_cast<char>(dot - start);
    out += name.substr(start, dot - start);
    start = dot + 1;
  }
  out += '\0';
}

// A name server's records, answered over a datagram Socket: each query sent is answered
// at once (RFC 1035 4.1) from `records`, or not at all when the server is silent.
struct Zone {
  std::map<std::string, std::vector<std::string>> a;  // name -> dotted addresses
  std::map<std::string, std::string> cname;           // alias -> target
  std::map<std::string, std::string> ptr;             // in-addr.arpa name -> name
  bool silent = false;
  int rcode_for_unknown = 3;  // NXDOMAIN
};

class DnsServerSocket : public Socket {
 public:
  DnsServerSocket(const Zone& zone, SocketAddress server, std::atomic<int>* queries,
                  std::atomic<int>* closes)
      : zone_(zone), server_(server), queries_(queries), closes_(closes) {}

  int type() const override { return SOCK_DGRAM; }
  int protocol() const override { return IPPROTO_UDP; }
  int Bind(const SocketAddress&) override { return 0; }
  int Connect(const SocketAddress& remote) override {
    absl::MutexLock lock(&mu_);
    peer_ = remote;
    return 0;
  }
  ssize_t SendMsg(std::span<const iovec> data, MessageInfo& info, int) override {
    std::string query(IovTotalLength(data), '\0');
    IovReader(data).Read(reinterpret_cast<uint8_t*>(query.data()), query.size());
    {
      absl::MutexLock lock(&mu_);
      if (!peer_ && !info.peer) return -EDESTADDRREQ;
      ++*queries_;
      if (!zone_.silent) replies_.push_back(Answer(query));
    }
    NotifyReadiness();
    return static_cast<ssize_t>(query.size());
  }
  ssize_t RecvMsg(std::span<const iovec> data, MessageInfo& info, int flags) override {
    absl::MutexLock lock(&mu_);
    if (replies_.empty()) return -EAGAIN;
    const std::string reply = replies_.front();
    if (!(flags & MSG_PEEK)) replies_.pop_front();
    info.peer = server_;
    return static_cast<ssize_t>(
        CopyToIov({reinterpret_cast<const uint8_t*>(reply.data()), reply.size()}, data));
  }
  int Shutdown(int) override { return 0; }
  void Close() override { ++*closes_; }
  int GetSockName(SocketAddress* out) const override {
    *out = {};
    return 0;
  }
  int GetPeerName(SocketAddress* out) const override {
    *out = server_;
    return 0;
  }
  int SetSockOpt(int, int, std::span<const uint8_t>) override { return 0; }
  int GetSockOpt(int, int, void*, socklen_t* len) override {
    *len = 0;
    return 0;
  }
  uint32_t Poll() const override {
    absl::MutexLock lock(&mu_);
    return POLLOUT | (replies_.empty() ? 0 : POLLIN);
  }
  int BytesReadable() const override { return 0; }

 private:
  std::string Answer(const std::string& query) const {
    size_t at = 12;
    const std::string qname = ReadQueryName(query, &at);
    const uint16_t qtype = static_cast<uint16_t>((static_cast<uint8_t>(query[at]) << 8) |
                                                 static_cast<uint8_t>(query[at + 1]));
    const std::string question = query.substr(12, at + 4 - 12);
    std::string answers;
    int count = 0;
    std::string name = qname;
    // Follow CNAMEs (RFC 1034 4.3.2 step 3a).
    while (zone_.cname.contains(name)) {
      PutName(answers, name);
      Put16(answers, 5);  // CNAME
      Put16(answers, 1);
      answers += std::string("\0\0\0\x3c", 4);
      std::string rdata;
      PutName(rdata, zone_.cname.at(name));
      Put16(answers, static_cast<uint16_t>(rdata.size()));
      answers += rdata;
      ++count;
      name = zone_.cname.at(name);
    }
    bool known = zone_.cname.contains(qname);
    if (qtype == 1 && zone_.a.contains(name)) {
      known = true;
      for (const std::string& ip : zone_.a.at(name)) {
        PutName(answers, name);
        Put16(answers, 1);  // A
        Put16(answers, 1);  // IN
        answers += std::string("\0\0\0\x3c", 4);
        Put16(answers, 4);
        const in_addr a = Ip(ip.c_str());
        answers.append(reinterpret_cast<const char*>(&a), 4);
        ++count;
      }
    }
    if (qtype == 12 && zone_.ptr.contains(name)) {
      known = true;
      PutName(answers, name);
      Put16(answers, 12);  // PTR
      Put16(answers, 1);
      answers += std::string("\0\0\0\x3c", 4);
      std::string rdata;
      PutName(rdata, zone_.ptr.at(name));
      Put16(answers, static_cast<uint16_t>(rdata.size()));
      answers += rdata;
      ++count;
    }
    if (zone_.a.contains(name)) known = true;  // the name exists: NODATA, not NXDOMAIN
    std::string reply = query.substr(0, 2);
    const int rcode = known ? 0 : zone_.rcode_for_unknown;
    reply += static_cast<char>(0x80 | (query[2] & 0x01));  // QR, RD copied
    reply += static_cast<char>(0x80 | rcode);              // RA
    Put16(reply, 1);
    Put16(reply, static_cast<uint16_t>(count));
    Put16(reply, 0);
    Put16(reply, 0);
    return reply + question + answers;
  }

  const Zone& zone_;
  const SocketAddress server_;
  std::atomic<int>* queries_;
  std::atomic<int>* closes_;
  mutable absl::Mutex mu_;
  std::optional<SocketAddress> peer_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> replies_ ABSL_GUARDED_BY(mu_);
};

class ResolverCares : public ::testing::Test {
 protected:
  ResolverOptions Options() {
    ResolverOptions o;
    o.open_socket = [this](int type, int* error) -> std::shared_ptr<OpenSocket> {
      ++opened_;
      last_type_ = type;
      if (refuse_) {
        *error = -ENETUNREACH;
        return nullptr;
      }
      auto socket = std::make_shared<DnsServerSocket>(
          zone_, SocketAddress{.address = Ipv4Address::FromOctets(192, 0, 2, 53), .port = 53},
          &queries_, &closes_);
      return std::make_shared<OpenSocket>(socket, true,
                                          [](const std::shared_ptr<Socket>& s) { s->Close(); });
    };
    o.servers = "192.0.2.53:53";
    o.timeout_ms = 100;
    o.tries = 2;
    return o;
  }

  Zone zone_;
  bool refuse_ = false;
  std::atomic<int> opened_{0}, queries_{0}, closes_{0};
  int last_type_ = -1;
};

TEST_F(ResolverCares, AnswersComeThroughTheGivenSockets) {
  zone_.a["web.test"] = {"198.18.0.1", "198.18.0.7"};
  const Resolver resolver(Options());
  const HostAddresses found = resolver.LookupHost("web.test");
  EXPECT_EQ(found.error, 0);
  ASSERT_EQ(found.addresses.size(), 2u);
  EXPECT_EQ(found.addresses[0].s_addr, Ip("198.18.0.1").s_addr);
  EXPECT_EQ(found.addresses[1].s_addr, Ip("198.18.0.7").s_addr);
  EXPECT_EQ(found.canonical, "web.test");
  EXPECT_EQ(opened_, 1);
  EXPECT_EQ(last_type_, SOCK_DGRAM);
  EXPECT_EQ(queries_, 1);  // A only: this host has no IPv6
  EXPECT_EQ(closes_, 1);   // the channel's socket is closed with it

  addrinfo* res = nullptr;
  const addrinfo h = Hints(AF_INET, AI_CANONNAME, SOCK_STREAM);
  ASSERT_EQ(resolver.GetAddrInfo("web.test", "8000", &h, &res), 0);
  const std::vector<Entry> entries = Flatten(res);
  FreeAddrInfo(res);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(Text(entries[0]), "198.18.0.1:8000");
  EXPECT_EQ(entries[0].canon, "web.test");
}

TEST_F(ResolverCares, CnameChainGivesCanonicalNameAndAliases) {
  zone_.cname["www.test"] = "cdn.test";
  zone_.cname["cdn.test"] = "edge.test";
  zone_.a["edge.test"] = {"198.18.0.9"};
  const Resolver resolver(Options());
  const HostAddresses found = resolver.LookupHost("www.test");
  ASSERT_EQ(found.error, 0);
  EXPECT_EQ(found.canonical, "edge.test");
  EXPECT_THAT(found.aliases, ElementsAre("www.test", "cdn.test"));
  ASSERT_EQ(found.addresses.size(), 1u);

  hostent ent{};
  hostent* result = nullptr;
  char buf[512];
  int herr = 0;
  ASSERT_EQ(resolver.GetHostByName2R("www.test", AF_INET, &ent, buf, sizeof(buf), &result, &herr),
            0);
  EXPECT_STREQ(ent.h_name, "edge.test");
  EXPECT_STREQ(ent.h_aliases[0], "www.test");
}

TEST_F(ResolverCares, NxdomainNodataAndServfail) {
  zone_.a["empty.test"] = {};
  const Resolver resolver(Options());
  EXPECT_EQ(resolver.LookupHost("nosuch.test").error, EAI_NONAME);
  EXPECT_EQ(resolver.LookupHost("empty.test").error, EAI_NODATA);
  zone_.rcode_for_unknown = 2;  // SERVFAIL
  EXPECT_EQ(resolver.LookupHost("nosuch.test").error, EAI_AGAIN);
  EXPECT_EQ(closes_.load(), opened_.load());
}

TEST_F(ResolverCares, SilentServerTimesOutWithinCaresBudget) {
  zone_.silent = true;
  const Resolver resolver(Options());
  const absl::Time start = absl::Now();
  EXPECT_EQ(resolver.LookupHost("web.test").error, EAI_AGAIN);
  const absl::Duration took = absl::Now() - start;
  // 2 tries of 100 ms, the second doubled (c-ares' backoff): ~300 ms, well under 2 s.
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Seconds(2));
  EXPECT_EQ(queries_, 2);
}

TEST_F(ResolverCares, NoSocketMeansTryAgain) {
  refuse_ = true;
  const Resolver resolver(Options());
  EXPECT_EQ(resolver.LookupHost("web.test").error, EAI_AGAIN);
  EXPECT_GE(opened_, 1);
}

TEST_F(ResolverCares, ReverseLookup) {
  zone_.ptr["1.0.18.198.in-addr.arpa"] = "web.test";
  const Resolver resolver(Options());
  const HostName found = resolver.LookupAddress(Ip("198.18.0.1"));
  EXPECT_EQ(found.error, 0);
  EXPECT_EQ(found.name, "web.test");
  EXPECT_EQ(resolver.LookupAddress(Ip("198.18.0.2")).error, EAI_NONAME);

  const sockaddr_in sin = Sin("198.18.0.1", 80);
  char host[64], serv[16];
  ASSERT_EQ(resolver.GetNameInfo(reinterpret_cast<const sockaddr*>(&sin), sizeof(sin), host,
                                 sizeof(host), serv, sizeof(serv), 0),
            0);
  EXPECT_STREQ(host, "web.test");
  EXPECT_STREQ(serv, "http");
}

// A temporary file, removed at the end.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char path[] = "/tmp/netshim-resolver-XXXXXX";
    const int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    path_ = path;
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_F(ResolverCares, HostsFileAnswersWithoutAnySocket) {
  const TempFile hosts("# test hosts\n198.18.0.5 files.test alias.test\n10.9.8.7 other.test\n");
  ASSERT_EQ(setenv("CARES_HOSTS", hosts.path().c_str(), 1), 0);
  ResolverOptions options = Options();
  options.hosts_from_env = true;
  const Resolver resolver(std::move(options));
  HostAddresses found = resolver.LookupHost("files.test");
  EXPECT_EQ(found.error, 0);
  ASSERT_EQ(found.addresses.size(), 1u);
  EXPECT_EQ(found.addresses[0].s_addr, Ip("198.18.0.5").s_addr);
  found = resolver.LookupHost("alias.test");
  EXPECT_EQ(found.error, 0);
  ASSERT_EQ(found.addresses.size(), 1u);
  EXPECT_EQ(found.canonical, "files.test");
  EXPECT_EQ(opened_, 0);
  unsetenv("CARES_HOSTS");
}

TEST_F(ResolverCares, ResolvConfNamesTheServer) {
  zone_.a["web.test"] = {"198.18.0.1"};
  const TempFile conf("nameserver 192.0.2.53\noptions timeout:1 attempts:1\n");
  ResolverOptions options = Options();
  options.servers.reset();
  options.resolv_conf = conf.path();
  const Resolver resolver(std::move(options));
  const HostAddresses found = resolver.LookupHost("web.test");
  EXPECT_EQ(found.error, 0);
  EXPECT_EQ(queries_, 1);
}

TEST_F(ResolverCares, Ipv6ServerIsSkipped) {
  zone_.a["web.test"] = {"198.18.0.1"};
  ResolverOptions options = Options();
  options.servers = "[2001:db8::53]:53,192.0.2.53:53";
  const Resolver resolver(std::move(options));
  EXPECT_EQ(resolver.LookupHost("web.test").error, 0);
  EXPECT_EQ(opened_, 1);  // the IPv6 server's socket never reached open_socket
}

TEST_F(ResolverCares, ConcurrentLookups) {
  zone_.a["web.test"] = {"198.18.0.1"};
  const Resolver resolver(Options());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (resolver.LookupHost("web.test").error == 0) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok, 80);
  EXPECT_EQ(closes_.load(), opened_.load());
}

}  // namespace
}  // namespace netshim
