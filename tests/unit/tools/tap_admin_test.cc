// netshim-tap's pure logic: the command line (valid forms and hostile input), interface-name
// and MTU validation, uid/gid parsing and resolution, the owner defaults, and the messages.
// Nothing here touches a network device: AddTap/DelTap are covered by
// tests/integration/test_netshim_tap.sh inside a throwaway network namespace.
#include "tools/tap_admin.h"

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netshim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<TapOptions> Parse(std::vector<std::string_view> args) { return ParseTapArgs(args); }

// The error text for bad args; fails the test when the args parse.
std::string ParseError(std::vector<std::string_view> args) {
  absl::StatusOr<TapOptions> parsed = ParseTapArgs(args);
  EXPECT_FALSE(parsed.ok()) << "parsed";
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

// Every message goes on one line of a terminal, whatever the input held. (A template: status
// messages are absl::string_view, which is not std::string_view in this Abseil.)
template <typename Text>
void ExpectOneShortLine(const Text& text) {
  const std::string_view message(text.data(), text.size());
  EXPECT_EQ(message.find('\n'), std::string_view::npos) << message;
  EXPECT_EQ(message.find('\r'), std::string_view::npos) << message;
  EXPECT_EQ(message.find('\0'), std::string_view::npos);
  EXPECT_LT(message.size(), 200u) << message;
  EXPECT_FALSE(message.empty());
}

TEST(TapAdminParseTest, HelpAnywhere) {
  for (const auto& args : std::vector<std::vector<std::string_view>>{
           {"--help"}, {"-h"}, {"add", "tap0", "--help"}, {"del", "--help"}, {"bogus", "-h"}}) {
    absl::StatusOr<TapOptions> parsed = Parse(args);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->command, TapCommand::kHelp);
  }
}

TEST(TapAdminParseTest, AddMinimal) {
  absl::StatusOr<TapOptions> parsed = Parse({"add", "tap0"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->command, TapCommand::kAdd);
  EXPECT_EQ(parsed->name, "tap0");
  EXPECT_FALSE(parsed->user);
  EXPECT_FALSE(parsed->group);
  EXPECT_FALSE(parsed->bridge);
  EXPECT_FALSE(parsed->mtu);
  EXPECT_FALSE(parsed->up);
}

TEST(TapAdminParseTest, AddAllFlagsBothSpellingsAnyOrder) {
  absl::StatusOr<TapOptions> parsed = Parse({"add", "--user", "nobody", "--group=nogroup", "tap7",
                                             "--bridge", "br0", "--mtu=9000", "--up"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->command, TapCommand::kAdd);
  EXPECT_EQ(parsed->name, "tap7");
  EXPECT_EQ(parsed->user, "nobody");
  EXPECT_EQ(parsed->group, "nogroup");
  EXPECT_EQ(parsed->bridge, "br0");
  EXPECT_EQ(parsed->mtu, 9000);
  EXPECT_TRUE(parsed->up);
}

TEST(TapAdminParseTest, Del) {
  absl::StatusOr<TapOptions> parsed = Parse({"del", "tap0"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->command, TapCommand::kDel);
  EXPECT_EQ(parsed->name, "tap0");
}

TEST(TapAdminParseTest, MissingOrUnknownCommand) {
  EXPECT_THAT(ParseError({}), HasSubstr("missing command"));
  EXPECT_THAT(ParseError({"create", "tap0"}), HasSubstr("unknown command 'create'"));
  EXPECT_THAT(ParseError({"ADD", "tap0"}), HasSubstr("unknown command"));
  EXPECT_THAT(ParseError({""}), HasSubstr("unknown command"));
  EXPECT_THAT(ParseError({"--up"}), HasSubstr("missing command"));
}

TEST(TapAdminParseTest, MissingOrExtraName) {
  EXPECT_THAT(ParseError({"add"}), HasSubstr("add needs a device NAME"));
  EXPECT_THAT(ParseError({"del"}), HasSubstr("del needs a device NAME"));
  EXPECT_THAT(ParseError({"add", "--up"}), HasSubstr("needs a device NAME"));
  EXPECT_THAT(ParseError({"add", "tap0", "tap1"}), HasSubstr("unexpected argument 'tap1'"));
  EXPECT_THAT(ParseError({"del", "tap0", "extra"}), HasSubstr("unexpected argument"));
}

TEST(TapAdminParseTest, UnknownFlags) {
  EXPECT_THAT(ParseError({"add", "tap0", "--frob"}), HasSubstr("unknown flag '--frob'"));
  EXPECT_THAT(ParseError({"add", "tap0", "-u", "x"}), HasSubstr("unknown flag '-u'"));
  EXPECT_THAT(ParseError({"add", "tap0", "--USER", "x"}), HasSubstr("unknown flag"));
  EXPECT_THAT(ParseError({"add", "tap0", "--"}), HasSubstr("unknown flag"));
  EXPECT_THAT(ParseError({"add", "tap0", "--user-name=x"}), HasSubstr("unknown flag"));
  EXPECT_THAT(ParseError({"add", "tap0", "--frob=1"}), HasSubstr("unknown flag '--frob'"));
}

TEST(TapAdminParseTest, MissingValues) {
  for (std::string_view flag : {"--user", "--group", "--bridge", "--mtu"}) {
    EXPECT_THAT(ParseError({"add", "tap0", flag}), HasSubstr("needs a value")) << flag;
    // The next flag is not taken as the value.
    EXPECT_THAT(ParseError({"add", "tap0", flag, "--up"}), HasSubstr("needs a value")) << flag;
  }
  EXPECT_THAT(ParseError({"add", "tap0", "--user="}), HasSubstr("non-empty"));
  EXPECT_THAT(ParseError({"add", "tap0", "--group="}), HasSubstr("non-empty"));
  EXPECT_THAT(ParseError({"add", "tap0", "--bridge="}), HasSubstr("must not be empty"));
  EXPECT_THAT(ParseError({"add", "tap0", "--mtu="}), HasSubstr("needs a number"));
  EXPECT_THAT(ParseError({"add", "tap0", "--up=yes"}), HasSubstr("--up takes no value"));
}

TEST(TapAdminParseTest, RepeatedFlags) {
  EXPECT_THAT(ParseError({"add", "t", "--user", "a", "--user", "b"}), HasSubstr("given twice"));
  EXPECT_THAT(ParseError({"add", "t", "--group", "a", "--group=b"}), HasSubstr("given twice"));
  EXPECT_THAT(ParseError({"add", "t", "--bridge", "a", "--bridge", "b"}), HasSubstr("twice"));
  EXPECT_THAT(ParseError({"add", "t", "--mtu", "1500", "--mtu", "1500"}), HasSubstr("twice"));
  EXPECT_THAT(ParseError({"add", "t", "--up", "--up"}), HasSubstr("--up given twice"));
}

TEST(TapAdminParseTest, DelTakesNoFlags) {
  EXPECT_EQ(ParseError({"del", "tap0", "--up"}), "--up is only valid with add");
  EXPECT_EQ(ParseError({"del", "--mtu", "1500", "tap0"}), "--mtu is only valid with add");
  EXPECT_EQ(ParseError({"del", "tap0", "--user=nobody", "--up"}), "--user is only valid with add");
}

TEST(TapAdminParseTest, BadNamesAndBridges) {
  EXPECT_THAT(ParseError({"add", ""}), HasSubstr("NAME must not be empty"));
  EXPECT_THAT(ParseError({"add", "sixteen-chars-xx"}), HasSubstr("too long"));
  EXPECT_THAT(ParseError({"del", "a/b"}), HasSubstr("may not contain"));
  EXPECT_THAT(ParseError({"add", "tap0", "--bridge", "br:0"}), HasSubstr("--bridge 'br:0'"));
  EXPECT_THAT(ParseError({"add", "tap0", "--bridge", std::string_view("br\0x", 4)}),
              HasSubstr("--bridge"));
  EXPECT_THAT(ParseError({"add", "tap0", "--bridge", "tap0"}), HasSubstr("not the TAP itself"));
}

TEST(TapAdminParseTest, BadMtuRejectedWhileParsing) {
  EXPECT_THAT(ParseError({"add", "tap0", "--mtu", "99999999999"}), HasSubstr("out of range"));
  EXPECT_THAT(ParseError({"add", "tap0", "--mtu", "67"}), HasSubstr("out of range (68..65521)"));
  EXPECT_THAT(ParseError({"add", "tap0", "--mtu", "abc"}), HasSubstr("not a number"));
  // "-5" after --mtu is its value (not "--"), and a bad one.
  EXPECT_THAT(ParseError({"add", "tap0", "--mtu", "-5"}), HasSubstr("not a number"));
}

TEST(TapAdminParseTest, HostileArgumentsGiveOneBoundedLine) {
  const std::string huge(1 << 20, 'A');
  const std::string ansi = "\x1b[2J\r\nnetshim-tap: fake";
  const std::vector<std::vector<std::string_view>> cases = {
      {"add", huge},
      {huge, "tap0"},
      {"add", "tap0", "--x\nfake"},
      {"add", ansi},
      {"add", "tap0", "--bridge", ansi},
      {"add", "tap0", "--mtu", ansi},
      {"add", "tap0", "--mtu", huge},
      {"add", "tap0", "--user", std::string_view("a\0b", 3)},
      {"add", std::string_view("\0", 1)},
      {"add", "tap0", "\xff\xfe"},
  };
  for (const auto& args : cases) ExpectOneShortLine(ParseError(args));
  EXPECT_THAT(ParseError({"add", ansi}), HasSubstr("\\x1b[2J\\x0d\\x0a"));
}

TEST(TapAdminNameTest, AcceptsWhatTheKernelAccepts) {
  for (std::string_view name :
       {"tap0", "t", "-", "...", "a.b", "br-lan_1", "fifteen-chars-x", "\xc3\xa9t\xc3\xa9"}) {
    EXPECT_TRUE(ValidateInterfaceName(name, "NAME").ok()) << name;
  }
}

TEST(TapAdminNameTest, RejectsWhatTheKernelWouldRejectOrRename) {
  const std::vector<std::string_view> bad = {"",      ".",    "..",   "sixteen-chars-xx",
                                             "a/b",   "/",    "a:b",  "eth0:1",
                                             "a b",   " ",    "a\tb", "a\nb",
                                             "a\vb",  "a\fb", "a\rb", std::string_view("a\0b", 3),
                                             "tap%d", "%"};
  for (std::string_view name : bad) {
    absl::Status status = ValidateInterfaceName(name, "NAME");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name;
    ExpectOneShortLine(status.message());
  }
  EXPECT_THAT(std::string(ValidateInterfaceName("x/y", "--bridge").message()),
              HasSubstr("--bridge 'x/y'"));
}

TEST(TapAdminMtuTest, Range) {
  EXPECT_EQ(*ParseMtu("68"), 68);
  EXPECT_EQ(*ParseMtu("1500"), 1500);
  EXPECT_EQ(*ParseMtu("0001500"), 1500);
  EXPECT_EQ(*ParseMtu("65521"), 65521);
  for (std::string_view bad :
       {"0", "67", "65522", "65535", "65536", "99999999999", "18446744073709551615",
        "18446744073709551616", "99999999999999999999999999999999"}) {
    absl::StatusOr<int> mtu = ParseMtu(bad);
    ASSERT_FALSE(mtu.ok()) << bad;
    EXPECT_THAT(std::string(mtu.status().message()), HasSubstr("out of range")) << bad;
  }
}

TEST(TapAdminMtuTest, NotANumber) {
  for (std::string_view bad :
       {"", "abc", "-1", "+1500", " 1500", "1500 ", "0x5dc", "1e3", "1500.0", "15OO", "١٥٠٠"}) {
    absl::StatusOr<int> mtu = ParseMtu(bad);
    ASSERT_FALSE(mtu.ok()) << bad;
    EXPECT_EQ(mtu.status().code(), absl::StatusCode::kInvalidArgument);
    ExpectOneShortLine(mtu.status().message());
  }
}

TEST(TapAdminIdTest, NumericIds) {
  EXPECT_EQ(*ParseNumericId("0"), 0u);
  EXPECT_EQ(*ParseNumericId("65534"), 65534u);
  EXPECT_EQ(*ParseNumericId("4294967294"), 4294967294u);
  // (uid_t)-1 means "no owner" to TUNSETOWNER: not a uid to ask for.
  EXPECT_FALSE(ParseNumericId("4294967295").ok());
  EXPECT_FALSE(ParseNumericId("4294967296").ok());
  EXPECT_FALSE(ParseNumericId("99999999999999999999999").ok());
  EXPECT_FALSE(ParseNumericId("").ok());
  EXPECT_FALSE(ParseNumericId("-1").ok());
  EXPECT_FALSE(ParseNumericId("12a").ok());
}

TEST(TapAdminIdTest, ResolveUser) {
  EXPECT_EQ(*ResolveUser("root"), 0u);  // every system has root as uid 0
  EXPECT_EQ(*ResolveUser("0"), 0u);
  // A uid with no passwd entry is still a uid (containers, LDAP users offline).
  EXPECT_EQ(*ResolveUser("3999999999"), 3999999999u);

  absl::StatusOr<uid_t> unknown = ResolveUser("no-such-user-netshim");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(), "unknown user 'no-such-user-netshim'");

  for (std::string_view bad :
       {std::string_view(""), std::string_view("ro\0ot", 5), std::string_view("4294967295"),
        std::string_view("-1"), std::string_view("root\n")}) {
    absl::StatusOr<uid_t> uid = ResolveUser(bad);
    EXPECT_FALSE(uid.ok()) << bad;
    if (!uid.ok()) ExpectOneShortLine(uid.status().message());
  }
  const std::string huge(100000, 'u');  // longer than any lookup buffer step
  absl::StatusOr<uid_t> long_name = ResolveUser(huge);
  ASSERT_FALSE(long_name.ok());
  ExpectOneShortLine(long_name.status().message());
}

TEST(TapAdminIdTest, ResolveGroup) {
  EXPECT_EQ(*ResolveGroup("root"), 0u);
  EXPECT_EQ(*ResolveGroup("12345"), 12345u);
  absl::StatusOr<gid_t> unknown = ResolveGroup("no-such-group-netshim");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "unknown group 'no-such-group-netshim'");
  EXPECT_FALSE(ResolveGroup("").ok());
  EXPECT_FALSE(ResolveGroup("4294967295").ok());
}

TEST(TapAdminOwnerTest, UserFlagThenSudoUidThenCaller) {
  TapOptions options = *Parse({"add", "tap0"});
  EXPECT_EQ(ResolveTapOwner(options, std::nullopt, 1234)->uid, 1234u);
  EXPECT_EQ(ResolveTapOwner(options, "", 1234)->uid, 1234u);  // SUDO_UID= (empty): unset
  EXPECT_EQ(ResolveTapOwner(options, "1000", 0)->uid, 1000u);
  EXPECT_FALSE(ResolveTapOwner(options, "1000", 0)->gid);

  options = *Parse({"add", "tap0", "--user", "root"});
  EXPECT_EQ(ResolveTapOwner(options, "1000", 1234)->uid, 0u);
  options = *Parse({"add", "tap0", "--user", "77"});
  EXPECT_EQ(ResolveTapOwner(options, "1000", 1234)->uid, 77u);
}

TEST(TapAdminOwnerTest, GroupAloneSetsNoOwner) {
  // The kernel ANDs owner and group: with an owner, the group would let no one else in.
  TapOptions options = *Parse({"add", "tap0", "--group", "root"});
  absl::StatusOr<TapOwner> owner = ResolveTapOwner(options, "1000", 1234);
  ASSERT_TRUE(owner.ok());
  EXPECT_FALSE(owner->uid);
  EXPECT_EQ(owner->gid, 0u);
}

TEST(TapAdminOwnerTest, UserAndGroup) {
  TapOptions options = *Parse({"add", "tap0", "--group", "12", "--user", "34"});
  absl::StatusOr<TapOwner> owner = ResolveTapOwner(options, "1000", 1234);
  ASSERT_TRUE(owner.ok());
  EXPECT_EQ(owner->uid, 34u);
  EXPECT_EQ(owner->gid, 12u);
}

TEST(TapAdminOwnerTest, Errors) {
  TapOptions options = *Parse({"add", "tap0"});
  absl::StatusOr<TapOwner> bad_sudo = ResolveTapOwner(options, "bob", 0);
  ASSERT_FALSE(bad_sudo.ok());
  EXPECT_THAT(std::string(bad_sudo.status().message()), HasSubstr("SUDO_UID 'bob'"));
  EXPECT_THAT(std::string(bad_sudo.status().message()), HasSubstr("--user"));
  EXPECT_FALSE(ResolveTapOwner(options, "4294967295", 0).ok());

  options = *Parse({"add", "tap0", "--user", "no-such-user-netshim"});
  EXPECT_EQ(ResolveTapOwner(options, std::nullopt, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = *Parse({"add", "tap0", "--group", "no-such-group-netshim"});
  EXPECT_EQ(ResolveTapOwner(options, std::nullopt, 0).status().message(),
            "unknown group 'no-such-group-netshim'");
}

TEST(TapAdminMessagesTest, CapabilityHintNamesTheBinary) {
  const std::string hint = CapabilityHint("/usr/local/bin/netshim-tap");
  EXPECT_THAT(hint, HasSubstr("needs CAP_NET_ADMIN"));
  EXPECT_THAT(hint, HasSubstr("sudo netshim-tap"));
  EXPECT_THAT(hint, HasSubstr("sudo setcap cap_net_admin+ep /usr/local/bin/netshim-tap"));
  ExpectOneShortLine(hint);
}

TEST(TapAdminMessagesTest, CapabilityHintQuotesOddPaths) {
  EXPECT_THAT(CapabilityHint("/opt/my tools/netshim-tap"),
              HasSubstr("setcap cap_net_admin+ep '/opt/my tools/netshim-tap'"));
  EXPECT_THAT(CapabilityHint("/opt/it's/netshim-tap"),
              HasSubstr("setcap cap_net_admin+ep '/opt/it'\\''s/netshim-tap'"));
  EXPECT_THAT(CapabilityHint("/opt/a\nb/netshim-tap"), Not(HasSubstr("\n")));
}

TEST(TapAdminMessagesTest, DescribeAddedTap) {
  TapOptions options = *Parse({"add", "tap0"});
  EXPECT_EQ(DescribeAddedTap(options, TapOwner{1000, std::nullopt}),
            "tap0: created persistent TAP owned by uid 1000");
  options = *Parse({"add", "tap0", "--group", "5", "--mtu", "9000", "--bridge", "br0"});
  EXPECT_EQ(DescribeAddedTap(options, TapOwner{0, 5}),
            "tap0: created persistent TAP owned by uid 0, group gid 5, mtu 9000, in bridge br0, "
            "up");
  EXPECT_EQ(DescribeAddedTap(options, TapOwner{std::nullopt, 5}),
            "tap0: created persistent TAP for group gid 5, mtu 9000, in bridge br0, up");
}

TEST(TapAdminMessagesTest, UsageDocumentsEveryFlag) {
  const std::string usage = kTapUsage;
  for (std::string_view word : {"add NAME", "del NAME", "--help", "--user", "--group", "--bridge",
                                "--mtu", "--up", "setcap cap_net_admin+ep"}) {
    EXPECT_THAT(usage, HasSubstr(std::string(word)));
  }
}

}  // namespace
}  // namespace netshim
