// Fuzzes tessera-sshd's monitor (ssh/src/server/monitor.h): the requests an
// unprivileged child sends the privileged monitor. Every byte here comes from
// a process an attacker may control, so the monitor must answer each with a
// reply or a refusal, never crash, and never accept a signature it did not
// verify over its own session id.
//
// Input: byte 0 flags (bit 0: the session phase instead of pre-auth; bit 1:
// answer the first request of type kKexAnswer with a real client share in
// place of its fields; bit 2: the authority offers group exchange, from a
// moduli file of RFC 3526's 2048-bit group; bit 3: with bit 2, the first
// kKexGroup carries a real request and the first kKexAnswer after it a real
// GEX init over the group the monitor chose), then a list of requests
// (ssh_fuzz::MessageList), each handed to MonitorService::handle().
#include <openssl/bn.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "server/monitor.h"
#include "ssh_fuzz_common.h"
#include "tessera/key/ossl.h"
#include "transport/kex_method.h"
#include "transport/kexinit.h"
#include "transport/messages.h"

using namespace tessera::ssh;

namespace {

// A moduli file written once per process (the monitor reads ModuliFile at
// each group exchange).
const std::string& moduli_path() {
  static const std::string path = [] {
    char name[] = "/tmp/fuzz-moduli-XXXXXX";
    const int fd = mkstemp(name);
    if (fd < 0) std::abort();  // the fuzzer's own set-up, never the input
    tessera::key::ossl::BnPtr p(BN_get_rfc3526_prime_2048(nullptr));
    char* hex = BN_bn2hex(p.get());
    const std::string line = "20230101000000 2 6 100 2047 2 " + std::string(hex) + "\n";
    OPENSSL_free(hex);
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::abort();
    close(fd);
    return std::string(name);
  }();
  static const bool cleanup = [] { return std::atexit([] { unlink(path.c_str()); }) == 0; }();
  (void)cleanup;
  return path;
}

tessera::key::Bytes gex_kexinit() {
  transport::KexInit k;
  k.kex = {"diffie-hellman-group-exchange-sha256"};
  k.host_key = {"ssh-ed25519"};
  k.cipher_c2s = k.cipher_s2c = {"aes128-ctr"};
  k.mac_c2s = k.mac_s2c = {"hmac-sha2-256"};
  k.compression_c2s = k.compression_s2c = {"none"};
  return k.serialize();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  transport::ServerKexConfig config;
  if (flags & 4) config.gex = transport::GexConfig{.moduli_file = moduli_path()};
  transport::LocalKexAuthority authority(config, ssh_fuzz::FixedSigner::instance());
  server::MonitorHooks hooks;
  hooks.check_key = [](const auth::PublickeyAttempt&) { return server::KeyVerdict{.allowed = true, .log_detail = ""}; };
  hooks.record_pty = [](bool, std::string_view, uint32_t) { return tessera::key::ok_status(); };
  server::MonitorService service(authority, hooks, 6);
  if (flags & 1) service.set_phase(server::MonitorPhase::kSession);
  ssh_fuzz::MessageList list(std::span<const uint8_t>(data + 1, size - 1));
  std::span<const uint8_t> message;
  bool real_exchange_done = false;
  bool real_group_asked = false;
  std::optional<tessera::key::Bytes> gex_p;  // the group the monitor chose, once real_group_asked
  while (list.next(message)) {
    const auto type = static_cast<server::MonitorRequest>(message[0]);
    if ((flags & 12) == 12 && !real_group_asked && type == server::MonitorRequest::kKexGroup) {
      real_group_asked = true;
      tessera::key::Writer request;
      request.u8(msg::kKexDhGexRequest);
      request.u32(2048);
      request.u32(2048);
      request.u32(8192);
      tessera::key::Writer w;
      w.u8(static_cast<uint8_t>(server::MonitorRequest::kKexGroup));
      w.string("SSH-2.0-fuzz");
      w.string(gex_kexinit());
      w.string(request.data());
      const tessera::key::Bytes reply = service.handle(w.data());
      tessera::key::Reader in(reply);
      auto status = in.u8();
      auto payload = in.string();
      if (status.ok() && *status == 0 && payload.ok()) {
        tessera::key::Reader group(*payload);
        (void)group.u8();
        if (auto p = group.mpint(); p.ok()) gex_p = tessera::key::Bytes(p->begin(), p->end());
      }
      if (service.broken()) break;
      continue;
    }
    if (gex_p && !real_exchange_done && type == server::MonitorRequest::kKexAnswer) {
      real_exchange_done = true;
      tessera::key::ossl::BnPtr p(BN_bin2bn(gex_p->data(), static_cast<int>(gex_p->size()), nullptr));
      tessera::key::ossl::BnPtr g(BN_new());
      if (!p || !g || BN_set_word(g.get(), 2) != 1) return 0;
      auto share = transport::dh_client_start(p.get(), g.get(), 16);
      if (!share.ok()) return 0;
      tessera::key::Writer init;
      init.u8(msg::kKexDhGexInit);
      init.bytes((*share)->public_field());
      tessera::key::Writer w;
      w.u8(static_cast<uint8_t>(server::MonitorRequest::kKexAnswer));
      w.string("SSH-2.0-fuzz");
      w.string(gex_kexinit());
      w.string(init.data());
      (void)service.handle(w.data());
      if (service.broken()) break;
      continue;
    }
    if ((flags & 2) && !real_exchange_done && message[0] == static_cast<uint8_t>(server::MonitorRequest::kKexAnswer)) {
      real_exchange_done = true;
      transport::KexInit k;
      k.kex = {"curve25519-sha256"};
      k.host_key = {"ssh-ed25519"};
      k.cipher_c2s = k.cipher_s2c = {"aes128-gcm@openssh.com"};
      k.mac_c2s = k.mac_s2c = {"hmac-sha2-256"};
      k.compression_c2s = k.compression_s2c = {"none"};
      auto share = transport::x25519_client_start(32);
      if (!share.ok()) return 0;
      tessera::key::Writer init;
      init.u8(msg::kKexEcdhInit);
      init.bytes((*share)->public_field());
      tessera::key::Writer w;
      w.u8(static_cast<uint8_t>(server::MonitorRequest::kKexAnswer));
      w.string("SSH-2.0-fuzz");
      w.string(k.serialize());
      w.string(init.data());
      (void)service.handle(w.data());
      continue;
    }
    const tessera::key::Bytes reply = service.handle(message);
    if (reply.empty()) __builtin_trap();
    if (service.broken()) break;
  }
  // Whatever was accepted was verified over the monitor's own session id.
  if (service.authenticated() && service.authenticated()->signature) {
    if (!auth::verify_publickey_signature(authority.session_id(), *service.authenticated()).ok()) __builtin_trap();
  }
  return 0;
}
