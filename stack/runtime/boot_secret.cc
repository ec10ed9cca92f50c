#include "stack/runtime/boot_secret.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "fmt/format.h"
#include "stack/runtime/log.h"
#include "stack/runtime/unique_fd.h"

namespace netshim {
namespace {

bool ReadSecret(const std::string& path, BootSecret* out) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return false;
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 077) != 0 || st.st_size != static_cast<off_t>(out->size())) {
    NETSHIM_LOG(kWarn, "{} is not a private {}-byte file of ours: TCP keys per process", path,
                out->size());
    return false;
  }
  return read(fd.get(), out->data(), out->size()) == static_cast<ssize_t>(out->size());
}

// Writes a fresh secret to a file of its own, then links it into place: whoever links
// first wins, and nobody ever reads a half-written secret.
bool CreateSecret(const std::string& path) {
  BootSecret secret;
  if (getrandom(secret.data(), secret.size(), 0) != static_cast<ssize_t>(secret.size())) {
    return false;
  }
  // Unique per thread too: two threads of one process may race here as well as processes.
  const std::string temp = fmt::format("{}.{}.{}", path, getpid(), gettid());
  {
    UniqueFd fd(open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) return false;
    if (write(fd.get(), secret.data(), secret.size()) != static_cast<ssize_t>(secret.size())) {
      unlink(temp.c_str());
      return false;
    }
  }
  const bool linked = link(temp.c_str(), path.c_str()) == 0 || errno == EEXIST;
  unlink(temp.c_str());
  return linked;
}

}  // namespace

std::optional<BootSecret> LoadOrCreateBootSecret(const std::string& path) {
  BootSecret secret;
  if (ReadSecret(path, &secret)) return secret;
  // Missing (or there but refused: then the link fails and the read refuses it again).
  // Whether we or a racing creator linked first, the file in place is the secret.
  CreateSecret(path);
  if (ReadSecret(path, &secret)) return secret;
  return std::nullopt;
}

std::optional<std::string> DefaultBootSecretPath() {
  if (geteuid() == 0) {
    // /run is a tmpfs cleared at boot; our directory is ours alone.
    if (mkdir("/run/netshim", 0700) != 0 && errno != EEXIST) return std::nullopt;
    struct stat st;
    if (lstat("/run/netshim", &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
        (st.st_mode & 077) != 0) {
      return std::nullopt;
    }
    return std::string("/run/netshim/tcp-secret");
  }
  const char* runtime = secure_getenv("XDG_RUNTIME_DIR");
  if (runtime == nullptr || runtime[0] != '/') return std::nullopt;
  return fmt::format("{}/netshim-tcp-secret", runtime);
}

}  // namespace netshim
