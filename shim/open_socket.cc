#include "shim/open_socket.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "shim/epoll_set.h"
#include "shim/signals.h"

namespace netshim {

bool OptionLog::Record(int level, int name, const void* value, socklen_t len) {
  if (len > kMaxValueBytes || (len > 0 && value == nullptr)) return false;
  absl::MutexLock lock(&mu_);
  std::erase_if(options_,
                [&](const RecordedOption& o) { return o.level == level && o.name == name; });
  if (options_.size() >= kMaxOptions) return false;
  RecordedOption& o = options_.emplace_back();
  o.level = level;
  o.name = name;
  o.value.resize(len);
  if (len > 0) std::memcpy(o.value.data(), value, len);
  return true;
}

std::vector<RecordedOption> OptionLog::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return options_;
}

OpenSocket::OpenSocket(std::shared_ptr<Socket> socket, bool nonblocking, CloseHook on_close)
    : socket_(std::move(socket)), nonblocking_(nonblocking), on_close_(std::move(on_close)) {}

// Linux sock_close -> inet_release: the protocol's close (FIN, RST or linger) runs when
// the last file reference is dropped, not at each close(2).
OpenSocket::~OpenSocket() { CloseNow(); }

void OpenSocket::AddEpollLink(const std::shared_ptr<EpollSet>& set, int fd) {
  absl::MutexLock lock(&links_mu_);
  // Closed sets are pruned here, so a file added to and removed from sets all its life
  // keeps only the links that can still matter.
  std::erase_if(epoll_links_, [](const auto& link) { return link.first.expired(); });
  for (const auto& [weak, linked_fd] : epoll_links_) {
    if (linked_fd == fd && weak.lock() == set) return;
  }
  epoll_links_.emplace_back(set, fd);
}

std::vector<std::shared_ptr<EpollSet>> OpenSocket::TakeEpollLinks(int fd) {
  std::vector<std::shared_ptr<EpollSet>> sets;
  absl::MutexLock lock(&links_mu_);
  std::erase_if(epoll_links_, [&](const auto& link) {
    if (link.second != fd) return false;
    if (std::shared_ptr<EpollSet> set = link.first.lock()) sets.push_back(std::move(set));
    return true;
  });
  return sets;
}

void OpenSocket::CloseNow() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  std::vector<std::pair<std::weak_ptr<EpollSet>, int>> links;
  {
    absl::MutexLock lock(&links_mu_);
    links.swap(epoll_links_);
  }
  for (const auto& [weak, fd] : links) {
    if (std::shared_ptr<EpollSet> set = weak.lock()) set->ForgetFile(fd, this);
  }
  if (on_close_) {
    on_close_(socket_);
  } else {
    InStack([this] { socket_->Close(); });
  }
}

}  // namespace netshim
