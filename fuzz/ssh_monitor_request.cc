// Fuzzes tessera-sshd's monitor (ssh/src/server/monitor.h): the requests an
// unprivileged child sends the privileged monitor. Every byte here comes from
// a process an attacker may control, so the monitor must answer each with a
// reply or a refusal, never crash, and never accept a signature it did not
// verify over its own session id.
//
// Input: byte 0 flags (bit 0: the session phase instead of pre-auth; bit 1:
// answer the first request of type kKexAnswer with a real client share in
// place of its fields), then a list of requests (ssh_fuzz::MessageList),
// each handed to MonitorService::handle().
#include <cstdint>
#include <span>

#include "server/monitor.h"
#include "ssh_fuzz_common.h"
#include "transport/kex_method.h"
#include "transport/kexinit.h"
#include "transport/messages.h"

using namespace tessera::ssh;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  transport::LocalKexAuthority authority({}, ssh_fuzz::FixedSigner::instance());
  server::MonitorHooks hooks;
  hooks.check_key = [](const auth::PublickeyAttempt&) { return server::KeyVerdict{.allowed = true, .log_detail = ""}; };
  hooks.record_pty = [](bool, std::string_view, uint32_t) { return tessera::key::ok_status(); };
  server::MonitorService service(authority, hooks, 6);
  if (flags & 1) service.set_phase(server::MonitorPhase::kSession);
  ssh_fuzz::MessageList list(std::span<const uint8_t>(data + 1, size - 1));
  std::span<const uint8_t> message;
  bool real_exchange_done = false;
  while (list.next(message)) {
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
