// The shim's configuration: a bad or missing value is one line naming the variable.
#include "shim/shim_config.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shim/exit_drain.h"
#include "tests/unit/shim/fake_socket.h"

namespace netshim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Env = std::map<std::string, std::string>;

absl::StatusOr<Config> Load(const Env& env) {
  return LoadShimConfig([&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

const Env kGood = {{"NETSHIM_TAP", "tap0"}, {"NETSHIM_ADDR", "198.18.0.2/24"}};

Env With(const std::string& name, const std::string& value) {
  Env env = kGood;
  env[name] = value;
  return env;
}

// The printed line for `env`; the load must fail.
std::string LineFor(const Env& env) {
  auto config = Load(env);
  EXPECT_FALSE(config.ok());
  if (config.ok()) return "";
  const std::string line = FatalLine(config.status());
  EXPECT_THAT(line, StartsWith("netshim: "));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "exactly one line: " << line;
  return line;
}

TEST(ShimConfig, GoodConfigBecomesStackAndLinkOptions) {
  Env env = kGood;
  env["NETSHIM_GW"] = "198.18.0.1";
  env["NETSHIM_MTU"] = "9000";
  env["NETSHIM_PCAP"] = "/tmp/x.pcap";
  env["NETSHIM_EXIT_TIMEOUT"] = "2.5s";
  auto config = Load(env);
  ASSERT_TRUE(config.ok()) << config.status();
  const StackOptions options = StackOptionsFor(*config);
  EXPECT_EQ(options.address.ToString(), "198.18.0.2/24");
  EXPECT_EQ(options.gateway, Ipv4Address::FromOctets(198, 18, 0, 1));
  EXPECT_EQ(options.mtu, 9000u);
  const LinkConfig link = LinkConfigFor(*config);
  EXPECT_EQ(link.tap, "tap0");
  EXPECT_EQ(link.mtu, 9000u);
  EXPECT_EQ(link.pcap, "/tmp/x.pcap");
  EXPECT_EQ(config->exit_timeout, absl::Milliseconds(2500));
}

TEST(ShimConfig, MissingVariablesAreNamed) {
  EXPECT_THAT(LineFor({{"NETSHIM_ADDR", "198.18.0.2/24"}}), HasSubstr("NETSHIM_TAP"));
  EXPECT_THAT(LineFor({{"NETSHIM_TAP", "tap0"}}), HasSubstr("NETSHIM_ADDR"));
  EXPECT_THAT(LineFor({}), HasSubstr("NETSHIM_TAP"));
}

TEST(ShimConfig, BadValuesAreNamedWithTheValue) {
  EXPECT_THAT(LineFor(With("NETSHIM_MTU", "abc")), HasSubstr("NETSHIM_MTU=\"abc\""));
  EXPECT_THAT(LineFor(With("NETSHIM_MTU", "100")), HasSubstr("NETSHIM_MTU"));
  EXPECT_THAT(LineFor(With("NETSHIM_ADDR", "198.18.0.2")), HasSubstr("NETSHIM_ADDR"));
  EXPECT_THAT(LineFor(With("NETSHIM_GW", "10.0.0.1")), HasSubstr("NETSHIM_GW"));
  EXPECT_THAT(LineFor(With("NETSHIM_LOG", "loud")), HasSubstr("NETSHIM_LOG"));
  EXPECT_THAT(LineFor(With("NETSHIM_STATS", "yes")), HasSubstr("NETSHIM_STATS"));
  EXPECT_THAT(LineFor(With("NETSHIM_EXIT_TIMEOUT", "-1")), HasSubstr("NETSHIM_EXIT_TIMEOUT"));
  // A newline in a value must not break the one-line rule.
  EXPECT_THAT(LineFor(With("NETSHIM_TAP", "ta\np0")), Not(HasSubstr("ta\np0")));
}

TEST(ShimExitDrain, WaitsUntilTheClosedSocketsAreDrained) {
  std::atomic<bool> drained{false};
  ExitDrain drain([&](Socket&) { return drained.load(); });
  auto fake = std::make_shared<testing::FakeSocket>();
  drain.Track(fake);
  EXPECT_EQ(drain.Pending(), 1u);
  EXPECT_FALSE(drain.Wait(absl::Milliseconds(20)));
  std::thread t([&] {
    drained = true;
    fake->SetSpace(1);  // a readiness change wakes the wait at once
  });
  EXPECT_TRUE(drain.Wait(absl::Seconds(30)));
  t.join();
  EXPECT_EQ(drain.Pending(), 0u);
}

TEST(ShimExitDrain, ForgottenSocketsAreDone) {
  ExitDrain drain([](Socket&) { return false; });
  auto fake = std::make_shared<testing::FakeSocket>();
  drain.Track(fake);
  fake.reset();  // the stack let go of it
  EXPECT_EQ(drain.Pending(), 0u);
  EXPECT_TRUE(drain.Wait(absl::ZeroDuration()));
}

TEST(ShimExitDrain, TheListStaysProportionalToWhatIsPending) {
  ExitDrain drain([](Socket&) { return true; });
  auto fake = std::make_shared<testing::FakeSocket>();
  for (int i = 0; i < 1000; ++i) drain.Track(fake);
  EXPECT_EQ(drain.Pending(), 0u);
}

}  // namespace
}  // namespace netshim
