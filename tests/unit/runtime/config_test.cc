#include "stack/runtime/config.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netshim {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using Env = std::map<std::string, std::string>;

absl::StatusOr<Config> Parse(const Env& env) {
  return ParseConfig([&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

// Parses `env` with one extra variable.
absl::StatusOr<Config> ParseWith(const std::string& name, const std::string& value, Env env = {}) {
  env[name] = value;
  return Parse(env);
}

// The error for `name`=`value`: InvalidArgument, one line, starting with the variable and
// the quoted value.
std::string ErrorFor(const std::string& name, const std::string& value, Env env = {}) {
  auto config = ParseWith(name, value, std::move(env));
  if (config.ok()) {
    ADD_FAILURE() << name << "=\"" << value << "\" was accepted";
    return "";
  }
  const std::string message(config.status().message());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << message;
  EXPECT_THAT(message, StartsWith(name + "=\"")) << name;
  EXPECT_THAT(message, HasSubstr("is invalid: "));
  EXPECT_THAT(message, HasSubstr("expected "));
  EXPECT_THAT(message, Not(HasSubstr("\n")));
  return message;
}

void ExpectRejected(const std::string& name, const std::vector<std::string>& values,
                    const Env& env = {}) {
  for (const std::string& v : values) ErrorFor(name, v, env);
}

const Env kLink = {{"NETSHIM_ADDR", "198.18.0.2/24"}};

TEST(ConfigTest, DefaultsWhenNothingIsSet) {
  auto config = Parse({});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->tap);
  EXPECT_FALSE(config->tap_fd);
  EXPECT_FALSE(config->addr);
  EXPECT_FALSE(config->gateway);
  EXPECT_FALSE(config->mac);
  EXPECT_EQ(config->mtu, 1500u);
  EXPECT_EQ(config->log_level, LogLevel::kWarn);
  EXPECT_FALSE(config->log_file);
  EXPECT_FALSE(config->pcap);
  EXPECT_EQ(config->impair, "");
  EXPECT_FALSE(config->stats);
  EXPECT_EQ(config->threads, 1u);
  EXPECT_EQ(config->loopback, Config::Loopback::kKernel);
  EXPECT_EQ(config->dns, Config::Dns::kStack);
  EXPECT_EQ(config->exit_timeout, absl::Seconds(10));
  EXPECT_TRUE(config->caller_poll);
}

TEST(ConfigTest, EmptyValuesMeanUnset) {
  Env env;
  for (const char* name :
       {"NETSHIM_TAP", "NETSHIM_TAP_FD", "NETSHIM_ADDR", "NETSHIM_GW", "NETSHIM_MAC", "NETSHIM_MTU",
        "NETSHIM_LOG", "NETSHIM_LOG_FILE", "NETSHIM_PCAP", "NETSHIM_IMPAIR", "NETSHIM_STATS",
        "NETSHIM_THREADS", "NETSHIM_LOOPBACK", "NETSHIM_DNS", "NETSHIM_EXIT_TIMEOUT",
        "NETSHIM_CALLER_POLL", "NETSHIM_ACK_HOLD"}) {
    env[name] = "";
  }
  auto config = Parse(env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->tap);
  EXPECT_FALSE(config->gateway);
  EXPECT_EQ(config->mtu, 1500u);
  EXPECT_EQ(config->exit_timeout, absl::Seconds(10));
  EXPECT_EQ(config->ack_hold, absl::Milliseconds(5));
}

TEST(ConfigTest, ReadsAFullConfiguration) {
  auto config = Parse({{"NETSHIM_TAP", "tap0"},
                       {"NETSHIM_ADDR", "198.18.0.2/24"},
                       {"NETSHIM_GW", "198.18.0.1"},
                       {"NETSHIM_MAC", "02:AA:bb:cc:dd:ee"},
                       {"NETSHIM_MTU", "9000"},
                       {"NETSHIM_LOG", "debug"},
                       {"NETSHIM_LOG_FILE", "/tmp/netshim log.txt"},
                       {"NETSHIM_PCAP", "/tmp/x.pcap"},
                       {"NETSHIM_IMPAIR", "loss=1%,delay=10ms"},
                       {"NETSHIM_STATS", "1"},
                       {"NETSHIM_THREADS", "4"},
                       {"NETSHIM_LOOPBACK", "stack"},
                       {"NETSHIM_DNS", "kernel"},
                       {"NETSHIM_EXIT_TIMEOUT", "2.5"},
                       {"NETSHIM_ACK_HOLD", "0"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tap, "tap0");
  EXPECT_EQ(config->addr, Ipv4Cidr::Parse("198.18.0.2/24"));
  EXPECT_EQ(config->gateway, Ipv4Address::FromOctets(198, 18, 0, 1));
  EXPECT_EQ(config->mac->ToString(), "02:aa:bb:cc:dd:ee");
  EXPECT_EQ(config->mtu, 9000u);
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  EXPECT_EQ(config->log_file, "/tmp/netshim log.txt");
  EXPECT_EQ(config->pcap, "/tmp/x.pcap");
  EXPECT_EQ(config->impair, "loss=1%,delay=10ms");
  EXPECT_TRUE(config->stats);
  EXPECT_EQ(config->threads, 4u);
  EXPECT_EQ(config->loopback, Config::Loopback::kStack);
  EXPECT_EQ(config->dns, Config::Dns::kKernel);
  EXPECT_EQ(config->exit_timeout, absl::Milliseconds(2500));
  EXPECT_EQ(config->ack_hold, absl::ZeroDuration());
  EXPECT_TRUE(RequireLinkConfig(*config).ok());
}

TEST(ConfigTest, Tap) {
  for (const char* good : {"tap0", "t", "netshim-tap_1.x", "123456789012345", "tap%d"}) {
    auto config = ParseWith("NETSHIM_TAP", good);
    ASSERT_TRUE(config.ok()) << good << ": " << config.status();
    EXPECT_EQ(config->tap, good);
  }
  ExpectRejected("NETSHIM_TAP",
                 {"1234567890123456", "a/b", "a:b", "a b", ".", "..", "tap\xc3\xa9", "tap\xa0"});
  EXPECT_THAT(ErrorFor("NETSHIM_TAP", "a/b"),
              HasSubstr("expected a network interface name of 1 to 15"));
}

TEST(ConfigTest, TapFd) {
  for (auto [text, fd] : std::vector<std::pair<std::string, int>>{
           {"0", 0}, {"3", 3}, {"007", 7}, {"2147483647", 2147483647}}) {
    auto config = ParseWith("NETSHIM_TAP_FD", text);
    ASSERT_TRUE(config.ok()) << text << ": " << config.status();
    EXPECT_EQ(config->tap_fd, fd);
  }
  ExpectRejected("NETSHIM_TAP_FD", {"-1", "2147483648", "99999999999999999999999", "3x", "0x3",
                                    "+3", "three", "3.0"});
  EXPECT_EQ(ErrorFor("NETSHIM_TAP_FD", "-1"),
            "NETSHIM_TAP_FD=\"-1\" is invalid: expected a file descriptor number from 0 to "
            "2147483647");
}

TEST(ConfigTest, TapAndTapFdAreMutuallyExclusive) {
  const std::string message = ErrorFor("NETSHIM_TAP_FD", "3", {{"NETSHIM_TAP", "tap0"}});
  EXPECT_EQ(message,
            "NETSHIM_TAP_FD=\"3\" is invalid: NETSHIM_TAP=\"tap0\" is also set; expected only "
            "one of NETSHIM_TAP and NETSHIM_TAP_FD");
}

TEST(ConfigTest, Addr) {
  for (const char* good : {"198.18.0.2/24", "10.0.0.1/8", "10.0.0.0/31", "10.0.0.1/31",
                           "192.0.2.7/32", "198.18.0.254/24", "1.2.3.4/0", "240.0.0.1/4"}) {
    auto config = ParseWith("NETSHIM_ADDR", good);
    ASSERT_TRUE(config.ok()) << good << ": " << config.status();
    EXPECT_EQ(config->addr, Ipv4Cidr::Parse(good));
  }
  ExpectRejected("NETSHIM_ADDR",
                 {"198.18.0.2/33", "198.18.0.2/", "198.18.0/24", "/24", "198.18.0.2/24/1",
                  "198.18.0.2/-1", "198.18.0.2/024", "host.example/24", "198.18.0.256/24"});
  EXPECT_THAT(ErrorFor("NETSHIM_ADDR", "198.18.0.2"),
              AllOf(HasSubstr("no prefix length"), HasSubstr("e.g. 198.18.0.2/24")));
  EXPECT_THAT(ErrorFor("NETSHIM_ADDR", "0.0.0.0/24"), HasSubstr("0.0.0.0/8"));
  EXPECT_THAT(ErrorFor("NETSHIM_ADDR", "0.1.2.3/8"), HasSubstr("0.0.0.0/8"));
  EXPECT_THAT(ErrorFor("NETSHIM_ADDR", "224.0.0.1/24"), HasSubstr("multicast"));
  EXPECT_THAT(ErrorFor("NETSHIM_ADDR", "239.255.255.255/8"), HasSubstr("multicast"));
  EXPECT_THAT(ErrorFor("NETSHIM_ADDR", "255.255.255.255/32"), HasSubstr("limited broadcast"));
  EXPECT_THAT(ErrorFor("NETSHIM_ADDR", "127.0.0.1/8"), HasSubstr("loopback"));
  EXPECT_EQ(ErrorFor("NETSHIM_ADDR", "198.18.0.0/24"),
            "NETSHIM_ADDR=\"198.18.0.0/24\" is invalid: the network address of 198.18.0.0/24; "
            "expected a unicast IPv4 host address with its prefix length, e.g. 198.18.0.2/24");
  EXPECT_THAT(ErrorFor("NETSHIM_ADDR", "198.18.0.255/24"),
              HasSubstr("the broadcast address of 198.18.0.0/24"));
  EXPECT_THAT(ErrorFor("NETSHIM_ADDR", "198.18.3.255/22"),
              HasSubstr("the broadcast address of 198.18.0.0/22"));
  EXPECT_THAT(ErrorFor("NETSHIM_ADDR", "10.0.0.3/30"),
              HasSubstr("the broadcast address of 10.0.0.0/30"));
}

TEST(ConfigTest, Gateway) {
  for (const char* good : {"198.18.0.1", "198.18.0.254", "198.18.0.3"}) {
    auto config = ParseWith("NETSHIM_GW", good, kLink);
    ASSERT_TRUE(config.ok()) << good << ": " << config.status();
    EXPECT_EQ(config->gateway, Ipv4Address::Parse(good));
  }
  // On a /31 both addresses are hosts (RFC 3021).
  EXPECT_TRUE(ParseWith("NETSHIM_GW", "10.0.0.0", {{"NETSHIM_ADDR", "10.0.0.1/31"}}).ok());
  ExpectRejected("NETSHIM_GW", {"198.18.0.1/24", "198.18.0", "gateway", "198.18.0.1.1"}, kLink);
  EXPECT_EQ(ErrorFor("NETSHIM_GW", "10.1.2.3", kLink),
            "NETSHIM_GW=\"10.1.2.3\" is invalid: outside the subnet 198.18.0.0/24 of "
            "NETSHIM_ADDR=\"198.18.0.2/24\"; expected a unicast IPv4 address inside "
            "NETSHIM_ADDR's subnet, e.g. 198.18.0.1");
  EXPECT_THAT(ErrorFor("NETSHIM_GW", "198.18.1.1", kLink), HasSubstr("outside the subnet"));
  EXPECT_THAT(ErrorFor("NETSHIM_GW", "198.18.0.1"),
              AllOf(HasSubstr("NETSHIM_ADDR is not set"), HasSubstr("expected NETSHIM_ADDR")));
  EXPECT_THAT(ErrorFor("NETSHIM_GW", "198.18.0.2", kLink), HasSubstr("NETSHIM_ADDR"));
  EXPECT_THAT(ErrorFor("NETSHIM_GW", "198.18.0.0", kLink), HasSubstr("network address"));
  EXPECT_THAT(ErrorFor("NETSHIM_GW", "198.18.0.255", kLink), HasSubstr("broadcast address"));
  EXPECT_THAT(ErrorFor("NETSHIM_GW", "224.0.0.1", kLink), HasSubstr("multicast"));
  EXPECT_THAT(ErrorFor("NETSHIM_GW", "0.0.0.0", kLink), HasSubstr("0.0.0.0/8"));
  EXPECT_THAT(ErrorFor("NETSHIM_GW", "255.255.255.255", kLink), HasSubstr("broadcast"));
  // An invalid address is reported for itself, not as a gateway problem.
  auto config = Parse({{"NETSHIM_ADDR", "198.18.0.0/24"}, {"NETSHIM_GW", "198.18.0.1"}});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), StartsWith("NETSHIM_ADDR="));
}

TEST(ConfigTest, Mac) {
  for (const char* good :
       {"02:00:00:00:00:01", "02:AB:cd:EF:01:23", "00:11:22:33:44:55", "fe:ff:ff:ff:ff:ff"}) {
    auto config = ParseWith("NETSHIM_MAC", good);
    ASSERT_TRUE(config.ok()) << good << ": " << config.status();
    EXPECT_EQ(config->mac, MacAddress::Parse(good));
  }
  ExpectRejected("NETSHIM_MAC", {"02:00:00:00:00", "02-00-00-00-00-01", "0200.0000.0001",
                                 "02:00:00:00:00:01:02", "2:0:0:0:0:1", "zz:00:00:00:00:01"});
  EXPECT_THAT(ErrorFor("NETSHIM_MAC", "01:00:5e:00:00:01"), HasSubstr("multicast"));
  EXPECT_THAT(ErrorFor("NETSHIM_MAC", "03:00:00:00:00:01"), HasSubstr("multicast"));
  EXPECT_THAT(ErrorFor("NETSHIM_MAC", "ff:ff:ff:ff:ff:ff"), HasSubstr("broadcast"));
  EXPECT_THAT(ErrorFor("NETSHIM_MAC", "00:00:00:00:00:00"), HasSubstr("all-zero"));
  EXPECT_THAT(ErrorFor("NETSHIM_MAC", "junk"), HasSubstr("expected a unicast MAC address"));
}

TEST(ConfigTest, Mtu) {
  for (auto [text, mtu] : std::vector<std::pair<std::string, uint32_t>>{
           {"576", 576}, {"577", 577}, {"1500", 1500}, {"65520", 65520}, {"65521", 65521}}) {
    auto config = ParseWith("NETSHIM_MTU", text);
    ASSERT_TRUE(config.ok()) << text << ": " << config.status();
    EXPECT_EQ(config->mtu, mtu);
  }
  ExpectRejected("NETSHIM_MTU", {"575", "65522", "0", "-1500", "+1500", "1500.0", "1e3", "0x5dc",
                                 "99999999999999999999999999"});
  EXPECT_EQ(ErrorFor("NETSHIM_MTU", "abc"),
            "NETSHIM_MTU=\"abc\" is invalid: expected an integer from 576 to 65521");
}

TEST(ConfigTest, LogLevel) {
  for (auto [text, level] :
       std::vector<std::pair<std::string, LogLevel>>{{"off", LogLevel::kOff},
                                                     {"error", LogLevel::kError},
                                                     {"warn", LogLevel::kWarn},
                                                     {"info", LogLevel::kInfo},
                                                     {"debug", LogLevel::kDebug},
                                                     {"trace", LogLevel::kTrace}}) {
    auto config = ParseWith("NETSHIM_LOG", text);
    ASSERT_TRUE(config.ok()) << text << ": " << config.status();
    EXPECT_EQ(config->log_level, level);
  }
  ExpectRejected("NETSHIM_LOG", {"DEBUG", "verbose", "4", "warning"});
  EXPECT_THAT(ErrorFor("NETSHIM_LOG", "loud"),
              HasSubstr("expected one of off, error, warn, info, debug, trace"));
}

TEST(ConfigTest, FilePaths) {
  for (const char* name : {"NETSHIM_LOG_FILE", "NETSHIM_PCAP"}) {
    const std::string longest(kMaxConfigValueLength, 'a');
    for (const std::string& good : {std::string("/tmp/a b/c.log"), std::string("rel/x"),
                                    std::string("/tmp/caf\xc3\xa9"), longest}) {
      auto config = ParseWith(name, good);
      ASSERT_TRUE(config.ok()) << name << ": " << config.status();
      EXPECT_EQ(std::string(name) == "NETSHIM_PCAP" ? config->pcap : config->log_file, good);
    }
    EXPECT_THAT(ErrorFor(name, longest + "a"),
                AllOf(HasSubstr("longer than 4095 bytes"), HasSubstr("(4096 bytes)")));
    EXPECT_THAT(ErrorFor(name, "/tmp/a\nb"), HasSubstr("control character"));
  }
}

TEST(ConfigTest, ImpairIsKeptVerbatim) {
  auto config = ParseWith("NETSHIM_IMPAIR", "whatever the impairment parser = takes; 5%");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->impair, "whatever the impairment parser = takes; 5%");
  ExpectRejected("NETSHIM_IMPAIR", {" loss=1%", "loss=1%\t"});
}

TEST(ConfigTest, Stats) {
  EXPECT_FALSE(ParseWith("NETSHIM_STATS", "0")->stats);
  EXPECT_TRUE(ParseWith("NETSHIM_STATS", "1")->stats);
  ExpectRejected("NETSHIM_STATS", {"2", "true", "yes", "on", "01", "-0"});
  EXPECT_THAT(ErrorFor("NETSHIM_STATS", "yes"), HasSubstr("expected 0 or 1"));
}

TEST(ConfigTest, Threads) {
  EXPECT_EQ(ParseWith("NETSHIM_THREADS", "1")->threads, 1u);
  EXPECT_EQ(ParseWith("NETSHIM_THREADS", "64")->threads, 64u);
  ExpectRejected("NETSHIM_THREADS", {"0", "65", "-1", "4.0", "four", "18446744073709551617"});
  EXPECT_EQ(ErrorFor("NETSHIM_THREADS", "65"),
            "NETSHIM_THREADS=\"65\" is invalid: expected an integer from 1 to 64");
}

TEST(ConfigTest, Loopback) {
  EXPECT_EQ(ParseWith("NETSHIM_LOOPBACK", "kernel")->loopback, Config::Loopback::kKernel);
  EXPECT_EQ(ParseWith("NETSHIM_LOOPBACK", "stack")->loopback, Config::Loopback::kStack);
  ExpectRejected("NETSHIM_LOOPBACK", {"Kernel", "STACK", "both", "1"});
  EXPECT_THAT(ErrorFor("NETSHIM_LOOPBACK", "x"), HasSubstr("expected kernel or stack"));
}

TEST(ConfigTest, CallerPoll) {
  EXPECT_TRUE(ParseWith("NETSHIM_CALLER_POLL", "on")->caller_poll);
  EXPECT_FALSE(ParseWith("NETSHIM_CALLER_POLL", "off")->caller_poll);
  ExpectRejected("NETSHIM_CALLER_POLL", {"On", "1", "yes", "offf"});
  EXPECT_THAT(ErrorFor("NETSHIM_CALLER_POLL", "x"), HasSubstr("expected on or off"));
}

TEST(ConfigTest, Dns) {
  EXPECT_EQ(ParseWith("NETSHIM_DNS", "stack")->dns, Config::Dns::kStack);
  EXPECT_EQ(ParseWith("NETSHIM_DNS", "kernel")->dns, Config::Dns::kKernel);
  ExpectRejected("NETSHIM_DNS", {"Stack", "libc", "8.8.8.8"});
  EXPECT_THAT(ErrorFor("NETSHIM_DNS", "x"), HasSubstr("expected stack or kernel"));
}

TEST(ConfigTest, ExitTimeout) {
  for (auto [text, d] :
       std::vector<std::pair<std::string, absl::Duration>>{{"0", absl::ZeroDuration()},
                                                           {"10", absl::Seconds(10)},
                                                           {"2.5", absl::Milliseconds(2500)},
                                                           {"0.25", absl::Milliseconds(250)},
                                                           {"1.5s", absl::Milliseconds(1500)},
                                                           {"500ms", absl::Milliseconds(500)},
                                                           {"0.5ms", absl::Microseconds(500)},
                                                           {"0.000000001", absl::Nanoseconds(1)},
                                                           {"3600", absl::Seconds(3600)},
                                                           {"3600.000000000", absl::Seconds(3600)},
                                                           {"3600s", absl::Seconds(3600)},
                                                           {"3600000ms", absl::Seconds(3600)},
                                                           {"0ms", absl::ZeroDuration()}}) {
    auto config = ParseWith("NETSHIM_EXIT_TIMEOUT", text);
    ASSERT_TRUE(config.ok()) << text << ": " << config.status();
    EXPECT_EQ(config->exit_timeout, d) << text;
  }
  ExpectRejected("NETSHIM_EXIT_TIMEOUT", {"3600.000000001",
                                          "3601",
                                          "3600001ms",
                                          "-1",
                                          "+1",
                                          "1.",
                                          ".5",
                                          "1e3",
                                          "10 s",
                                          "10m",
                                          "1h",
                                          "10us",
                                          "s",
                                          "ms",
                                          "1.0000000001",
                                          "1.5.5",
                                          "99999999999999999999",
                                          "inf",
                                          "nan",
                                          "10sms",
                                          "10mss"});
  EXPECT_EQ(ErrorFor("NETSHIM_EXIT_TIMEOUT", "1h"),
            "NETSHIM_EXIT_TIMEOUT=\"1h\" is invalid: expected a duration from 0 to 3600 seconds, "
            "in seconds or with a unit, e.g. 10, 2.5, 1.5s or 500ms");
}

TEST(ConfigTest, AckHold) {
  for (auto [text, d] :
       std::vector<std::pair<std::string, absl::Duration>>{{"0", absl::ZeroDuration()},
                                                           {"5ms", absl::Milliseconds(5)},
                                                           {"0.5ms", absl::Microseconds(500)},
                                                           {"0.002", absl::Milliseconds(2)},
                                                           {"0.1", absl::Milliseconds(100)},
                                                           {"100ms", absl::Milliseconds(100)}}) {
    auto config = ParseWith("NETSHIM_ACK_HOLD", text);
    ASSERT_TRUE(config.ok()) << text << ": " << config.status();
    EXPECT_EQ(config->ack_hold, d) << text;
  }
  // Past 100 ms a held ACK could cost the peer a retransmission (its RTO is 200 ms at least).
  ExpectRejected("NETSHIM_ACK_HOLD",
                 {"100.000001ms", "101ms", "0.2", "1", "-1", "5us", "5 ms", "on", "ms", ".5"});
  EXPECT_EQ(ErrorFor("NETSHIM_ACK_HOLD", "1"),
            "NETSHIM_ACK_HOLD=\"1\" is invalid: expected a duration from 0 to 100 ms, in seconds "
            "or with a unit, e.g. 0.005, 5ms or 0.5ms");
}

// Rules every variable shares, checked on each of them with an otherwise good value.
TEST(ConfigTest, EveryVariableRejectsSpacesControlCharactersAndOverlongValues) {
  const Env good = {{"NETSHIM_TAP", "tap0"},
                    {"NETSHIM_TAP_FD", "3"},
                    {"NETSHIM_ADDR", "198.18.0.2/24"},
                    {"NETSHIM_GW", "198.18.0.1"},
                    {"NETSHIM_MAC", "02:00:00:00:00:01"},
                    {"NETSHIM_MTU", "1500"},
                    {"NETSHIM_LOG", "info"},
                    {"NETSHIM_LOG_FILE", "/tmp/log"},
                    {"NETSHIM_PCAP", "/tmp/pcap"},
                    {"NETSHIM_IMPAIR", "loss=1%"},
                    {"NETSHIM_STATS", "1"},
                    {"NETSHIM_THREADS", "2"},
                    {"NETSHIM_LOOPBACK", "stack"},
                    {"NETSHIM_DNS", "kernel"},
                    {"NETSHIM_EXIT_TIMEOUT", "5"},
                    {"NETSHIM_ACK_HOLD", "5ms"}};
  for (const auto& [name, value] : good) {
    SCOPED_TRACE(name);
    Env base = name == "NETSHIM_GW" ? kLink : Env{};
    ASSERT_TRUE(ParseWith(name, value, base).ok());
    EXPECT_THAT(ErrorFor(name, " " + value, base), HasSubstr("leading or trailing spaces"));
    EXPECT_THAT(ErrorFor(name, value + " ", base), HasSubstr("leading or trailing spaces"));
    EXPECT_THAT(ErrorFor(name, value + "\n", base),
                AllOf(HasSubstr("control character"), HasSubstr("\\x0a")));
    EXPECT_THAT(ErrorFor(name, "\t" + value, base), HasSubstr("control character"));
    EXPECT_THAT(ErrorFor(name, value + "\x7f", base), HasSubstr("control character"));
    EXPECT_THAT(ErrorFor(name, value + std::string(5000, 'x'), base),
                AllOf(HasSubstr("longer than 4095 bytes"), HasSubstr("...\" (")));
  }
}

TEST(ConfigTest, MessagesQuoteHostileValuesOnOneLine) {
  EXPECT_EQ(ErrorFor("NETSHIM_MTU", "1\"5\\0"),
            "NETSHIM_MTU=\"1\\\"5\\\\0\" is invalid: expected an integer from 576 to 65521");
  EXPECT_EQ(ErrorFor("NETSHIM_MTU", "15\r\n00"),
            "NETSHIM_MTU=\"15\\x0d\\x0a00\" is invalid: contains a control character; expected "
            "an integer from 576 to 65521");
  EXPECT_THAT(ErrorFor("NETSHIM_MTU", "\xff\xfe"), HasSubstr("\"\\xff\\xfe\""));
  const std::string message = ErrorFor("NETSHIM_MTU", std::string(300, '9'));
  EXPECT_THAT(message, HasSubstr("...\" (300 bytes)"));
  EXPECT_LT(message.size(), 200u);
}

TEST(ConfigTest, ReportsTheFirstBadVariableInDocumentedOrder) {
  auto config = Parse({{"NETSHIM_DNS", "x"}, {"NETSHIM_MTU", "x"}});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), StartsWith("NETSHIM_MTU="));
}

TEST(ConfigTest, RequireLinkConfigNamesWhatIsMissing) {
  Config config;
  absl::Status status = RequireLinkConfig(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith("NETSHIM_TAP or NETSHIM_TAP_FD must be set"), Not(HasSubstr("\n"))));
  config.tap_fd = 3;
  status = RequireLinkConfig(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), StartsWith("NETSHIM_ADDR must be set"));
  config.addr = Ipv4Cidr::Parse("198.18.0.2/24");
  EXPECT_TRUE(RequireLinkConfig(config).ok());
  config.tap_fd.reset();
  config.tap = "tap0";
  EXPECT_TRUE(RequireLinkConfig(config).ok());
}

TEST(ConfigTest, DefaultMacIsLocallyAdministeredUnicastFromTheAddress) {
  const MacAddress mac = DefaultMacFor(Ipv4Address::FromOctets(198, 18, 0, 2));
  EXPECT_EQ(mac.ToString(), "02:4e:c6:12:00:02");
  EXPECT_FALSE(mac.IsMulticast());
  EXPECT_NE(mac.bytes[0] & 0x02, 0);                                      // locally administered
  EXPECT_EQ(DefaultMacFor(Ipv4Address::FromOctets(198, 18, 0, 2)), mac);  // deterministic
  EXPECT_NE(DefaultMacFor(Ipv4Address::FromOctets(198, 18, 0, 3)), mac);
  for (uint32_t a : {0u, 0xffffffffu, 0xe0000001u, 0x01020304u}) {
    const MacAddress m = DefaultMacFor(Ipv4Address{a});
    EXPECT_FALSE(m.IsMulticast());
    EXPECT_FALSE(m.IsZero());
  }
}

}  // namespace
}  // namespace netshim
