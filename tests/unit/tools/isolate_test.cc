// netshim-isolate's pure logic: the command line (valid forms and hostile input), TAP-name
// and uid validation, --user resolution against a fake user database (names, uids with and
// without an entry, lookup failures), the LD_PRELOAD list and the program's environment.
// The steps that need root (TAP, namespace, privilege drop) are covered by
// tests/integration/test_shim_isolate.sh.
#include "tools/isolate.h"

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netshim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

absl::StatusOr<IsolateOptions> Parse(std::vector<std::string_view> args) {
  return ParseIsolateArgs(args);
}

// One line, bounded, whatever the input held (absl::string_view is not std::string_view here).
template <typename Text>
void ExpectOneShortLine(const Text& text) {
  const std::string_view message(text.data(), text.size());
  EXPECT_EQ(message.find('\n'), std::string_view::npos) << message;
  EXPECT_EQ(message.find('\r'), std::string_view::npos) << message;
  EXPECT_EQ(message.find('\0'), std::string_view::npos);
  EXPECT_LT(message.size(), 200u) << message;
  EXPECT_FALSE(message.empty());
}

// The error for bad args; fails the test when they parse.
std::string ParseError(std::vector<std::string_view> args) {
  absl::StatusOr<IsolateOptions> parsed = ParseIsolateArgs(args);
  EXPECT_FALSE(parsed.ok()) << "parsed";
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  ExpectOneShortLine(parsed.status().message());
  return std::string(parsed.status().message());
}

TEST(IsolateArgsTest, Minimal) {
  auto o = Parse({"--tap", "tap0", "--", "curl", "-sO", "http://x/"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->help);
  EXPECT_EQ(o->tap, "tap0");
  EXPECT_FALSE(o->user);
  EXPECT_TRUE(o->offload);
  EXPECT_FALSE(o->mtu);
  EXPECT_EQ(o->wait_up_seconds, 10);
  EXPECT_EQ(o->preload, "");
  EXPECT_THAT(o->program, ElementsAre("curl", "-sO", "http://x/"));
}

TEST(IsolateArgsTest, EveryFlagBothForms) {
  auto o = Parse({"--tap=t1", "--user", "nobody", "--offload=off", "--mtu", "9000", "--wait-up=0",
                  "--preload", "/a/libasan.so /b/libnetshim.so", "prog"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->tap, "t1");
  EXPECT_EQ(o->user, "nobody");
  EXPECT_FALSE(o->offload);
  EXPECT_EQ(o->mtu, 9000);
  EXPECT_EQ(o->wait_up_seconds, 0);
  EXPECT_EQ(o->preload, "/a/libasan.so /b/libnetshim.so");
  EXPECT_THAT(o->program, ElementsAre("prog"));
}

TEST(IsolateArgsTest, ProgramArgumentsAreNotFlags) {
  // After --, and after the program's name, everything belongs to the program.
  auto o = Parse({"--tap", "t", "--", "--user", "x"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->user);
  EXPECT_THAT(o->program, ElementsAre("--user", "x"));
  o = Parse({"--tap", "t", "sh", "-c", "--help"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->help);
  EXPECT_THAT(o->program, ElementsAre("sh", "-c", "--help"));
}

TEST(IsolateArgsTest, Help) {
  for (std::string_view h : {"-h", "--help"}) {
    auto o = Parse({h});
    ASSERT_TRUE(o.ok());
    EXPECT_TRUE(o->help);
  }
  for (std::string_view flag :
       {"--tap", "--user", "--offload", "--mtu", "--wait-up", "--preload"}) {
    EXPECT_THAT(kIsolateUsage, HasSubstr(flag));
  }
}

TEST(IsolateArgsTest, MissingPieces) {
  EXPECT_THAT(ParseError({}), HasSubstr("--tap NAME is required"));
  EXPECT_THAT(ParseError({"--", "prog"}), HasSubstr("--tap NAME is required"));
  EXPECT_THAT(ParseError({"--tap", "t"}), HasSubstr("no program to run"));
  EXPECT_THAT(ParseError({"--tap", "t", "--"}), HasSubstr("no program to run"));
  EXPECT_THAT(ParseError({"--tap", "t", "--", ""}), HasSubstr("empty"));
  EXPECT_THAT(ParseError({"--tap"}), HasSubstr("--tap needs a value"));
  EXPECT_THAT(ParseError({"--tap", "t", "--user"}), HasSubstr("--user needs a value"));
}

TEST(IsolateArgsTest, BadFlagsAndValues) {
  EXPECT_THAT(ParseError({"--bogus", "1", "--tap", "t", "p"}), HasSubstr("unknown flag '--bogus'"));
  EXPECT_THAT(ParseError({"-u", "x", "--tap", "t", "p"}), HasSubstr("unknown flag '-u'"));
  EXPECT_THAT(ParseError({"--tap", "a", "--tap", "b", "p"}), HasSubstr("--tap given twice"));
  EXPECT_THAT(ParseError({"--user", "a", "--user=b", "--tap", "t", "p"}),
              HasSubstr("--user given twice"));
  EXPECT_THAT(ParseError({"--tap", "t", "--user", "", "p"}), HasSubstr("--user needs a user"));
  EXPECT_THAT(ParseError({"--tap", "t", "--user=", "p"}), HasSubstr("--user needs a user"));
  EXPECT_THAT(ParseError({"--tap", "t", "--offload", "yes", "p"}),
              HasSubstr("--offload 'yes' is invalid: expected on or off"));
  for (std::string_view mtu :
       {"575", "65522", "", "1500x", "-1", "0x5dc", "+1500", " 1500", "99999999999999999999999"}) {
    EXPECT_THAT(ParseError({"--tap", "t", "--mtu", mtu, "p"}),
                HasSubstr("expected an integer from 576 to 65521"))
        << mtu;
  }
  for (std::string_view s : {"-1", "3601", "1.5", "", "10s"}) {
    EXPECT_THAT(ParseError({"--tap", "t", "--wait-up", s, "p"}),
                HasSubstr("expected an integer from 0 to 3600"))
        << s;
  }
}

TEST(IsolateArgsTest, HostileValuesStayOneLine) {
  const std::string nul("a\0b", 3);
  EXPECT_THAT(ParseError({"--tap", "t", "--user", nul, "p"}), HasSubstr("NUL"));
  EXPECT_THAT(ParseError({"--tap", "t", "--preload", nul, "p"}), HasSubstr("NUL"));
  const std::string flood(10000, 'x');
  ParseError({"--tap", flood, "p"});
  ParseError({"--" + flood, "p"});
  ParseError({"--tap", "t", "--mtu", "1\n2", "p"});
  ParseError({"--tap", "t", "--offload", "\x1b[2Jon", "p"});
  EXPECT_THAT(ParseError({"--tap", "t", "--offload", "o'n\\", "p"}), HasSubstr("o\\x27n\\x5c"));
}

TEST(IsolateTapNameTest, Valid) {
  for (std::string_view name : {"t", "tap0", "nstap0", "a-b_c.d", "123456789012345", "tap@1"}) {
    EXPECT_TRUE(ValidateTapName(name).ok()) << name;
  }
}

TEST(IsolateTapNameTest, Invalid) {
  EXPECT_THAT(std::string(ValidateTapName("").message()), HasSubstr("needs a device name"));
  EXPECT_THAT(std::string(ValidateTapName("1234567890123456").message()),
              HasSubstr("too long (16 characters, at most 15)"));
  for (std::string_view name : {".", ".."}) {
    EXPECT_THAT(std::string(ValidateTapName(name).message()), HasSubstr("not a valid")) << name;
  }
  const std::string nul("ta\0p", 4);
  for (std::string_view name :
       std::vector<std::string_view>{"a/b", "a:b", "tap%d", "a b", "a\tb", "a\nb", nul}) {
    const absl::Status s = ValidateTapName(name);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    ExpectOneShortLine(s.message());
  }
}

TEST(IsolateIdTest, Parse) {
  EXPECT_EQ(*ParseNumericId("0"), 0u);
  EXPECT_EQ(*ParseNumericId("65534"), 65534u);
  EXPECT_EQ(*ParseNumericId("4294967294"), 4294967294u);
  EXPECT_EQ(*ParseNumericId("007"), 7u);
  for (std::string_view bad :
       {"", "-1", "4294967295", "18446744073709551616", "1e3", "0x10", " 1", "1 ", "+1", "١"}) {
    EXPECT_FALSE(ParseNumericId(bad).ok()) << bad;
  }
  EXPECT_THAT(std::string(ParseNumericId("4294967295").status().message()),
              HasSubstr("out of range (0..4294967294)"));
}

// An in-memory passwd/group database.
class FakeUsers final : public UserDatabase {
 public:
  std::map<std::string, UserEntry, std::less<>> users;
  std::map<std::string, std::vector<gid_t>, std::less<>> groups;
  bool fail_lookups = false;
  mutable std::vector<std::string> looked_up;

  absl::StatusOr<std::optional<UserEntry>> ByName(std::string_view name) const override {
    looked_up.emplace_back(name);
    if (fail_lookups) return absl::UnavailableError("cannot look up user: NSS is down");
    const auto it = users.find(name);
    if (it == users.end()) return std::optional<UserEntry>();
    return std::optional<UserEntry>(it->second);
  }
  absl::StatusOr<std::optional<UserEntry>> ByUid(uid_t uid) const override {
    for (const auto& [name, entry] : users) {
      if (entry.uid == uid) return std::optional<UserEntry>(entry);
    }
    return std::optional<UserEntry>();
  }
  absl::StatusOr<std::vector<gid_t>> Groups(const UserEntry& user) const override {
    const auto it = groups.find(user.name);
    if (it == groups.end()) return std::vector<gid_t>{user.gid};
    return it->second;
  }
};

FakeUsers SomeUsers() {
  FakeUsers db;
  db.users["nobody"] = {"nobody", 65534, 65534};
  db.users["alice"] = {"alice", 1000, 1000};
  db.users["1001"] = {"1001", 2000, 2000};  // a user whose name is a number
  db.users["root"] = {"root", 0, 0};
  db.groups["alice"] = {1000, 27, 100};
  return db;
}

TEST(IsolateUserTest, ByName) {
  const FakeUsers db = SomeUsers();
  auto u = ResolveTargetUser("alice", db);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->name, "alice");
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 1000u);
  EXPECT_THAT(u->groups, ElementsAre(1000, 27, 100));
  u = ResolveTargetUser("nobody", db);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->uid, 65534u);
  EXPECT_THAT(u->groups, ElementsAre(65534));
  EXPECT_EQ(DescribeUser(*u), "'nobody' (uid 65534)");
}

TEST(IsolateUserTest, ByUidWithEntryTakesItsGroups) {
  const FakeUsers db = SomeUsers();
  auto u = ResolveTargetUser("1000", db);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->name, "alice");
  EXPECT_EQ(u->gid, 1000u);
  EXPECT_THAT(u->groups, ElementsAre(1000, 27, 100));
}

TEST(IsolateUserTest, NameWinsOverUid) {
  // As chown(1): "1001" is a user's name here, so it is that user (uid 2000), not uid 1001.
  const FakeUsers db = SomeUsers();
  auto u = ResolveTargetUser("1001", db);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->uid, 2000u);
}

TEST(IsolateUserTest, UidWithoutEntryGetsNoGroup) {
  // Never gid == uid: gid 27 would be the sudo group on Debian.
  const FakeUsers db = SomeUsers();
  auto u = ResolveTargetUser("27", db);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->uid, 27u);
  EXPECT_EQ(u->gid, kNoGroup);
  EXPECT_THAT(u->groups, IsEmpty());
  EXPECT_EQ(u->name, "");
  EXPECT_EQ(DescribeUser(*u), "uid 27");
}

TEST(IsolateUserTest, Root) {
  const FakeUsers db = SomeUsers();
  auto u = ResolveTargetUser("0", db);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->name, "root");
  EXPECT_EQ(u->uid, 0u);
}

TEST(IsolateUserTest, BadUsers) {
  const FakeUsers db = SomeUsers();
  const auto error = [&](std::string_view user) {
    absl::StatusOr<TargetUser> u = ResolveTargetUser(user, db);
    EXPECT_FALSE(u.ok()) << user;
    if (u.ok()) return std::string();
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument) << user;
    ExpectOneShortLine(u.status().message());
    return std::string(u.status().message());
  };
  EXPECT_THAT(error("mallory"), HasSubstr("--user 'mallory': no such user"));
  EXPECT_THAT(error(""), HasSubstr("--user needs"));
  EXPECT_THAT(error("-1"), HasSubstr("no such user"));
  EXPECT_THAT(error("4294967295"), HasSubstr("out of range"));
  EXPECT_THAT(error("99999999999999999999999999"), HasSubstr("out of range"));
  EXPECT_THAT(error(std::string("nob\0dy", 6)), HasSubstr("NUL"));
  EXPECT_THAT(error("evil\n--user root"), Not(HasSubstr("\n")));
  error(std::string(100000, 'u'));
}

TEST(IsolateUserTest, LookupFailureIsNotUsage) {
  FakeUsers db = SomeUsers();
  db.fail_lookups = true;
  absl::StatusOr<TargetUser> u = ResolveTargetUser("alice", db);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().code(), absl::StatusCode::kUnavailable);
}

TEST(IsolateUserTest, SystemDatabaseKnowsRoot) {
  // Every Linux system has uid 0 in its passwd database; an unknown name is refused.
  auto u = ResolveTargetUser("0", SystemUserDatabase());
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->uid, 0u);
  EXPECT_FALSE(u->name.empty());
  auto bad = ResolveTargetUser("no-such-user-netshim-x", SystemUserDatabase());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(IsolatePreloadTest, Split) {
  EXPECT_THAT(SplitPreload(""), IsEmpty());
  EXPECT_THAT(SplitPreload("/a.so"), ElementsAre("/a.so"));
  EXPECT_THAT(SplitPreload("/a.so /b.so:c.so"), ElementsAre("/a.so", "/b.so", "c.so"));
  EXPECT_THAT(SplitPreload("  /a.so::  /b.so "), ElementsAre("/a.so", "/b.so"));
}

TEST(IsolateEnvironmentTest, TapFdReplacesTapAndPreloadGoesFirst) {
  const std::vector<std::string> env = {
      "PATH=/bin",        "NETSHIM_TAP=tap0",  "NETSHIM_TAP_FD=9", "NETSHIM_ADDR=198.18.0.2/24",
      "LD_PRELOAD=/u.so", "NETSHIM_TAPX=keep", "NOVALUE"};
  EXPECT_THAT(ProgramEnvironment(env, 3, "/asan.so /netshim.so"),
              ElementsAre("PATH=/bin", "NETSHIM_ADDR=198.18.0.2/24",
                          "LD_PRELOAD=/asan.so /netshim.so /u.so", "NETSHIM_TAPX=keep", "NOVALUE",
                          "NETSHIM_TAP_FD=3"));
}

TEST(IsolateEnvironmentTest, PreloadAddedOrLeftAlone) {
  EXPECT_THAT(ProgramEnvironment({"A=1"}, 4, "/n.so"),
              ElementsAre("A=1", "LD_PRELOAD=/n.so", "NETSHIM_TAP_FD=4"));
  EXPECT_THAT(ProgramEnvironment({"LD_PRELOAD="}, 4, "/n.so"),
              ElementsAre("LD_PRELOAD=/n.so", "NETSHIM_TAP_FD=4"));
  EXPECT_THAT(ProgramEnvironment({"LD_PRELOAD=/u.so"}, 5, ""),
              ElementsAre("LD_PRELOAD=/u.so", "NETSHIM_TAP_FD=5"));
  // A duplicate LD_PRELOAD (possible with a hand-made environ) cannot smuggle a library past.
  EXPECT_THAT(ProgramEnvironment({"LD_PRELOAD=/u.so", "LD_PRELOAD=/v.so"}, 5, "/n.so"),
              ElementsAre("LD_PRELOAD=/n.so /u.so", "NETSHIM_TAP_FD=5"));
}

TEST(IsolateQuoteTest, OneBoundedLine) {
  EXPECT_EQ(QuoteArg("tap0"), "'tap0'");
  EXPECT_EQ(QuoteArg("a\nb"), "'a\\x0ab'");
  EXPECT_EQ(QuoteArg(std::string(100, 'x')), "'" + std::string(40, 'x') + "...'");
}

}  // namespace
}  // namespace netshim
