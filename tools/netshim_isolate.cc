// netshim-isolate: runs a program whose only network is the netshim stack: in a network
// namespace of its own (only `lo`), with an attached TAP queue inherited as NETSHIM_TAP_FD,
// without privileges. scripts/netshim --isolate runs it with libnetshim.so as --preload.
//
// Exit status: 2 bad arguments, 1 a step failed (one line naming it, with strerror), 126/127
// the program cannot be run / was not found; else the program's. See kIsolateUsage.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fmt/format.h"
#include "tools/isolate.h"

extern char** environ;

namespace netshim {
namespace {

int Report(const absl::Status& status, int exit_code) {
  std::fprintf(stderr, "netshim-isolate: %.*s\n", static_cast<int>(status.message().size()),
               status.message().data());
  return exit_code;
}

std::vector<std::string> CurrentEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Whoever we are after the drop, for messages.
std::string Who(const std::optional<TargetUser>& user) {
  if (user) return DescribeUser(*user);
  return fmt::format("uid {}", getuid());
}

int Run(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  absl::StatusOr<IsolateOptions> options = ParseIsolateArgs(args);
  if (!options.ok()) return Report(options.status(), kIsolateExitUsage);
  if (options->help) {
    std::fputs(kIsolateUsage, stdout);
    return 0;
  }

  // Resolved first: a bad --user is a usage error, found before anything changes.
  std::optional<TargetUser> user;
  if (options->user) {
    absl::StatusOr<TargetUser> resolved = ResolveTargetUser(*options->user, SystemUserDatabase());
    if (!resolved.ok()) {
      const bool usage = resolved.status().code() == absl::StatusCode::kInvalidArgument;
      return Report(resolved.status(), usage ? kIsolateExitUsage : kIsolateExitFailed);
    }
    user = *std::move(resolved);
  }

  bool created = false;
  absl::StatusOr<int> tap = OpenTap(options->tap, options->offload, options->mtu, &created);
  if (!tap.ok()) return Report(tap.status(), kIsolateExitFailed);
  if (!created) {
    if (absl::Status s =
            WaitTapUp(options->tap, options->wait_up_seconds, options->mtu.value_or(1500));
        !s.ok()) {
      return Report(s, kIsolateExitFailed);
    }
  }
  if (absl::Status s = EnterNewNetworkNamespace(); !s.ok()) return Report(s, kIsolateExitFailed);
  if (absl::Status s = DropPrivileges(user); !s.ok()) return Report(s, kIsolateExitFailed);
  if (absl::Status s = CheckPreloadReadable(options->preload, Who(user)); !s.ok()) {
    return Report(s, kIsolateExitFailed);
  }

  std::vector<std::string> env = ProgramEnvironment(CurrentEnvironment(), *tap, options->preload);
  std::vector<char*> envp = Pointers(env);
  std::vector<char*> program_argv = Pointers(options->program);
  // The one fd the program inherits on purpose (opened FD_CLOEXEC so nothing else could).
  if (fcntl(*tap, F_SETFD, 0) < 0) {
    return Report(absl::UnavailableError(
                      fmt::format("cannot pass the TAP fd on: fcntl: {}", std::strerror(errno))),
                  kIsolateExitFailed);
  }
  execvpe(program_argv[0], program_argv.data(), envp.data());
  const int err = errno;
  Report(absl::UnavailableError(
             fmt::format("cannot run {}: {}", QuoteArg(options->program[0]), std::strerror(err))),
         0);
  return err == ENOENT ? kIsolateExitNotFound : kIsolateExitCannotExec;
}

}  // namespace
}  // namespace netshim

int main(int argc, char** argv) { return netshim::Run(argc, argv); }
