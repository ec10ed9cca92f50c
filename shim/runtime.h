// The shim's process-wide state: the descriptor table, the one Stack (started lazily by the
// first AF_INET or AF_INET6 socket, so a program that never opens one never touches the TAP), the
// exit drain, and what fork(2) changes.
#pragma once

#include <memory>

#include "shim/epoll_set.h"
#include "shim/exit_drain.h"
#include "shim/fd_table.h"
#include "shim/open_socket.h"
#include "stack/stack.h"

namespace netshim::shim {

// The process's descriptor table (never destroyed: the stack's threads use it until the
// very end).
FdTable& Fds();

// The epoll fds that hold stack sockets, with their side tables (never destroyed either).
EpollTable& Epolls();

// The stack, started on the first call from any thread, exactly once. A bad or missing
// NETSHIM_* value stops the program here with one line naming the variable; so does a stack
// that cannot start (e.g. no such TAP).
Stack& EnsureStack();

// True on the thread that is starting the stack: the stack's own socket() calls (the TAP
// setup asks the kernel) must reach the kernel.
bool StartingStack();

// The running stack's dispatcher when blocking threads may take frames off the link
// themselves (NETSHIM_CALLER_POLL on; not in a forked child, not at exit); else nullptr.
Dispatcher* CallerPollDispatcher();

// True in a child made by fork(2) after the stack started: the stack lives in the parent,
// so inherited sockets can only be closed here, and new AF_INET sockets are refused.
bool InForkedChild();

// A new OpenSocket whose last close closes the socket and hands it to the exit drain.
std::shared_ptr<OpenSocket> MakeOpenSocket(std::shared_ptr<Socket> socket, bool nonblocking);

// The errno for a call on an inherited stack socket in a forked child (logged once).
int RefuseInChild(int fd);

}  // namespace netshim::shim
