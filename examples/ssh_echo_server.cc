// ssh-echo-server: an SSH server that serves one subsystem, "echo", which
// sends back every byte it receives, to the keys listed in an
// authorized_keys file. Built on tessera's embedding API
// (tessera/ssh/server.h); docs/ssh-server-library.md explains each part.
//
//   ssh-echo-server -k host_ed25519 -a authorized_keys [-l 127.0.0.1:2222]
//                   [-c host_cert.pub] [-u user] [-s subsystem] [-g grace]
//   ssh -p 2222 -s user@127.0.0.1 echo
//
// It prints "listening on port N" once it accepts connections (-l host:0
// picks a free port), logs each connection and login to stderr, and on
// SIGINT or SIGTERM stops accepting, lets running sessions finish for up to
// -g seconds (default 10), then exits.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"
#include "tessera/ssh/server.h"
#include "tessera/sys/file.h"

namespace {

using tessera::key::PublicKey;
using tessera::ssh::Channel;
using tessera::ssh::ConnectionInfo;
using tessera::ssh::Handler;
using tessera::ssh::SessionRequest;

constexpr size_t kMaxAuthorizedKeysBytes = 1024 * 1024;

void usage() {
  std::cerr << "usage: ssh-echo-server -k host_key [-k host_key...] [-c host_certificate] -a authorized_keys\n"
               "                       [-l address:port] [-u user] [-s subsystem] [-g grace_seconds]\n";
  std::exit(2);
}

void log(const std::string& line) { std::cerr << "ssh-echo-server: " + line + "\n" << std::flush; }

std::string peer(const ConnectionInfo& info) {
  return info.remote_address + " port " + std::to_string(info.remote_port);
}

// Whether `key` is listed in the authorized_keys file. Read at every
// attempt, as sshd does, so edits take effect at once. This example
// honours no key options: a line with options (command=, from=,
// restrict, cert-authority, ...) is skipped, so a restricted key is never
// let in unrestricted.
bool authorized(const std::string& path, const PublicKey& key) {
  auto text = tessera::sys::read_file(path, kMaxAuthorizedKeysBytes);
  if (!text.ok()) {
    log("cannot read " + path + ": " + text.error().message());
    return false;
  }
  std::string_view rest = *text;
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    auto entry = tessera::key::parse_authorized_keys_line(line);
    if (!entry.ok() || !entry->has_value()) continue;  // bad lines, blanks and comments
    if ((*entry)->options.empty() && (*entry)->key == key) return true;
  }
  return false;
}

// The subsystem: every byte back, until the client's EOF.
void echo(Channel& channel) {
  uint8_t buf[32 * 1024];
  for (;;) {
    auto n = channel.read(buf);
    if (!n.ok()) return;  // the connection went: nobody to report to
    if (*n == 0) break;   // the client's EOF
    if (!channel.write(std::span<const uint8_t>(buf, *n)).ok()) return;
  }
  channel.close_write();
  channel.exit_status(0);
}

}  // namespace

int main(int argc, char** argv) {
  tessera::ssh::ServerConfig config;
  std::string authorized_keys, address = "127.0.0.1:2222", only_user, subsystem = "echo";
  int grace_seconds = 10;
  int opt;
  while ((opt = getopt(argc, argv, "k:c:a:l:u:s:g:")) != -1) {
    switch (opt) {
      case 'k': config.host_key_files.push_back(optarg); break;
      case 'c': config.host_certificate_files.push_back(optarg); break;
      case 'a': authorized_keys = optarg; break;
      case 'l': address = optarg; break;
      case 'u': only_user = optarg; break;
      case 's': subsystem = optarg; break;
      case 'g': grace_seconds = std::atoi(optarg); break;
      default: usage();
    }
  }
  if (optind != argc || config.host_key_files.empty() || authorized_keys.empty() || grace_seconds < 0) usage();

  config.on_connection = [](const ConnectionInfo& info) {
    log("connection from " + peer(info));
    return tessera::key::ok_status();
  };
  config.on_handshake_failed = [](const ConnectionInfo& info, const tessera::key::Error& error) {
    log("connection from " + peer(info) + " ended before login: " + error.message());
  };
  config.publickey = [&](const ConnectionInfo& info, std::string_view user, const PublicKey& key) {
    // Asked once per key; the login itself needs the client's signature,
    // which the library checks.
    const bool ok = (only_user.empty() || user == only_user) && authorized(authorized_keys, key);
    if (!ok) {
      log("refused " + std::string(key.ssh_name()) + " key " +
          tessera::key::fingerprint(key, tessera::key::FingerprintHash::kSha256) + " for " + std::string(user) +
          " from " + peer(info));
    }
    return ok;
  };
  // Sessions may run the subsystem and nothing else (no exec, no shell).
  config.on_session = [&](const ConnectionInfo& info, const SessionRequest& request) -> Handler {
    if (request.kind != SessionRequest::Kind::kSubsystem || request.command != subsystem) {
      log("refused a session request from " + info.user + " at " + peer(info));
      return nullptr;
    }
    log("subsystem " + subsystem + " for " + info.user + " (" +
        tessera::key::fingerprint(*info.key, tessera::key::FingerprintHash::kSha256) + ") at " + peer(info));
    return echo;
  };

  auto server = tessera::ssh::Server::create(std::move(config));
  if (!server.ok()) {
    log(server.error().message());
    return 1;
  }
  if (auto listening = (*server)->listen(address); !listening.ok()) {
    log(listening.error().message());
    return 1;
  }

  // SIGINT and SIGTERM go to one thread that starts the shutdown; every
  // other thread (the loop's, the handlers') has them blocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  tessera::ssh::Server* s = server->get();
  std::thread signal_waiter([s, stop_signals, grace_seconds] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    log("shutting down: sessions have " + std::to_string(grace_seconds) + " s to finish");
    s->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(grace_seconds));
  });

  std::cout << "listening on port " << s->port() << std::endl;
  auto served = s->serve();
  // serve() returns after the shutdown the signal started, or on an error
  // (then the waiting thread is woken to end).
  if (!served.ok()) pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  if (!served.ok()) {
    log(served.error().message());
    return 1;
  }
  log("stopped");
  return 0;
}
