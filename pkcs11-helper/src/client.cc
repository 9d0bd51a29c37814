#include "tessera/pkcs11/client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "tessera/sys/spawn.h"

namespace tessera::pkcs11 {

namespace {

Error io_error(std::string message) { return helper_error(ErrorCode::kInternal, std::move(message)); }

}  // namespace

std::string default_helper_program() {
  if (const char* env = std::getenv("TESSERA_PKCS11_HELPER"); env != nullptr && *env != '\0') return env;
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "/usr/bin/tessera-pkcs11-helper";
  std::string path(self, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/') + 1) + "tessera-pkcs11-helper";
}

Result<SpawnedHelper> spawn_helper(const std::string& helper_program, const std::string& module_path) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return io_error(std::string("socketpair: ") + std::strerror(errno));
  }
  sys::SpawnOptions options;
  // The copies lose close-on-exec.
  options.hand_over = {{fds[1], STDIN_FILENO}, {fds[1], STDOUT_FILENO}};
  options.own_process_group = true;
  auto pid = sys::spawn({helper_program, module_path}, options);
  ::close(fds[1]);
  if (!pid.ok()) {
    ::close(fds[0]);
    return io_error(pid.error().message());
  }
  return SpawnedHelper{*pid, fds[0]};
}

Result<std::unique_ptr<HelperClient>> HelperClient::start(const std::string& helper_program,
                                                         const std::string& module_path, std::chrono::seconds timeout) {
  TESSERA_ASSIGN_OR_RETURN(const SpawnedHelper spawned, spawn_helper(helper_program, module_path));
  std::unique_ptr<HelperClient> client(new HelperClient(spawned.pid, spawned.fd, timeout));
  TESSERA_ASSIGN_OR_RETURN(ReplyBody hello, client->call(Hello{}));
  auto* reply = std::get_if<HelloReply>(&hello);
  if (reply == nullptr) return io_error("tessera-pkcs11-helper did not answer Hello");
  if (reply->version != kProtocolVersion) {
    return io_error("tessera-pkcs11-helper speaks protocol version " + std::to_string(reply->version));
  }
  client->module_ = reply->module;
  return client;
}

HelperClient::~HelperClient() {
  if (fd_ >= 0) ::close(fd_);
  if (pid_ <= 0) return;
  int status = 0;
  // The helper exits at the end of its input; a stuck module gets a second.
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
    ::usleep(10'000);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
}

Result<ReplyBody> HelperClient::call(RequestBody body) {
  const uint32_t id = next_id_++;
  auto frame = frame_request(Request{id, std::move(body)});
  if (!frame.ok()) return helper_error(ErrorCode::kBadRequest, "cannot send the request: " + frame.error().message());
  auto bytes = frame->reveal();
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return io_error("tessera-pkcs11-helper is gone");
    done += static_cast<size_t>(n);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    std::span<const uint8_t> payload;
    auto status = peek_frame(input_, &payload);
    if (status == FrameStatus::kBadLength) return io_error("tessera-pkcs11-helper sent a broken frame");
    if (status == FrameStatus::kComplete) {
      auto reply = parse_reply(payload);
      input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(4 + payload.size()));
      if (!reply.ok()) return io_error("tessera-pkcs11-helper sent a malformed reply: " + reply.error().message());
      if (reply->id != id) continue;  // not ours (cannot happen: one request at a time)
      if (auto* error = std::get_if<ErrorReply>(&reply->body)) {
        return helper_error(error->code, error->message, error->token_flags);
      }
      return std::move(reply->body);
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return io_error("the PKCS#11 module or token did not answer in time");
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    uint8_t chunk[16384];
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return io_error("tessera-pkcs11-helper exited (see its message above)");
    input_.insert(input_.end(), chunk, chunk + n);
  }
}

Result<KeyList> HelperClient::list_keys() {
  // A long listing comes in pages; a listing that changes under us (another
  // request made a new one) is read again from the start.
  for (int attempt = 0; attempt < kListingAttempts; ++attempt) {
    KeyList all;
    bool restart = false;
    while (!restart) {
      TESSERA_ASSIGN_OR_RETURN(ReplyBody reply, call(ListKeys{static_cast<uint32_t>(all.keys.size()), true}));
      auto* page = std::get_if<KeyList>(&reply);
      if (page == nullptr) return io_error("tessera-pkcs11-helper answered ListKeys out of turn");
      auto added = add_page(all, std::move(*page));
      if (!added.ok()) return io_error("tessera-pkcs11-helper: " + added.error().message());
      if (!*added) restart = true;
      else if (all.keys.size() == all.total) return all;
    }
  }
  return io_error("tessera-pkcs11-helper: the key listing kept changing while it was read; try again");
}

Status HelperClient::login(const TokenId& token, const std::optional<SecretBytes>& pin) {
  Login request{token, std::nullopt};
  if (pin) request.pin = pin->clone();
  TESSERA_ASSIGN_OR_RETURN(ReplyBody reply, call(std::move(request)));
  if (std::holds_alternative<Ok>(reply)) return Status();
  return io_error("tessera-pkcs11-helper answered Login out of turn");
}

Result<Bytes> HelperClient::sign(const KeyId& key, std::span<const uint8_t> data, const std::string& algorithm,
                                 const std::optional<SecretBytes>& context_pin) {
  Sign request{key, Bytes(data.begin(), data.end()), algorithm, std::nullopt};
  if (context_pin) request.context_pin = context_pin->clone();
  TESSERA_ASSIGN_OR_RETURN(ReplyBody reply, call(std::move(request)));
  if (auto* signature = std::get_if<SignatureReply>(&reply)) return std::move(signature->signature);
  return io_error("tessera-pkcs11-helper answered Sign out of turn");
}

}  // namespace tessera::pkcs11
