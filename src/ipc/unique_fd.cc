#include "ipc/unique_fd.h"

#include <unistd.h>

namespace orion::ipc {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);
  fd_ = fd;
}

}  // namespace orion::ipc
