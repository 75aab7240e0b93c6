#include "common/spawn.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>

extern char** environ;

namespace hsw {

namespace fs = std::filesystem;

Result<std::string> FindDaemonBinary(const std::string& name, const std::string& bindir) {
  auto usable = [&](const std::string& dir) {
    return access((dir + "/" + name).c_str(), X_OK) == 0;
  };
  if (!bindir.empty()) {
    if (usable(bindir)) return bindir + "/" + name;
    return Err("cannot find {}: {}/{} is missing or not executable", name, bindir, name);
  }
  std::error_code ec;
  std::string own_dir = fs::read_symlink("/proc/self/exe", ec).parent_path().string();
  if (!ec && usable(own_dir)) return own_dir + "/" + name;
  const char* env = std::getenv("HSW_BINDIR");
  if (env && *env && usable(env)) return std::string(env) + "/" + name;
  // Installed programs (a package, a container image) are found on PATH.
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest = path;
    while (!rest.empty()) {
      size_t colon = rest.find(':');
      std::string dir(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
      if (!dir.empty() && usable(dir)) return dir + "/" + name;
    }
  }
  return Err("cannot find {}: not in {} (this program's directory){}, nor on PATH", name,
             ec ? "/proc/self/exe's directory" : own_dir,
             env && *env ? fmt::format(" nor in HSW_BINDIR={}", env)
                         : ", HSW_BINDIR is not set");
}

Result<int> RunAndWait(const std::vector<std::string>& argv) {
  std::vector<char*> c_argv;
  for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int signal : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGALRM, SIGCHLD})
    sigaddset(&defaults, signal);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::fflush(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0].c_str(), nullptr, &attr, c_argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return MakeError(fmt::format("cannot run {}", argv[0]), rc);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoErr("waitpid for {}", argv[0]);
  }
  if (WIFSIGNALED(status)) return Err("{} was killed by signal {}", argv[0], WTERMSIG(status));
  return WEXITSTATUS(status);
}

}  // namespace hsw
