// A smart card reader and card for tests, made of real parts: pcsc-lite's
// pcscd with vsmartcard's virtual reader driver (vpcd), and vsmartcard's
// vicc as the card (see ../../shared/TEST-PEERS.md). Each test gets a pcscd of
// its own:
//  - in a mount namespace of its own (unshare; a user namespace too when not
//    root) where a directory of the test is bound over /run, because pcscd
//    1.9.9 always makes its socket at /run/pcscd/pcscd.comm. Clients reach it
//    with PCSCLITE_CSOCK_NAME=<dir>/run/pcscd/pcscd.comm (env() gives it);
//  - with a reader.conf.d of its own giving vpcd free TCP ports (vpcd serves
//    two readers, "<name> 00 00" on the port and "<name> 00 01" on the next).
// vicc running is a card in reader "<name> 00 00"; vicc stopped is no card.
#ifndef TESSERA_TESTS_SUPPORT_PCSC_H_
#define TESSERA_TESTS_SUPPORT_PCSC_H_

#include <memory>
#include <string>

#include "test_support.h"

namespace tessera::test {

inline constexpr const char* kPcscdPath = "/usr/sbin/pcscd";
inline constexpr const char* kViccPath = "/usr/bin/vicc";
inline constexpr const char* kVpcdDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
// The reader name vpcd's first slot gets from the configuration written here.
inline constexpr const char* kVirtualReaderBase = "Tessera Test PCD";

class VirtualReader {
 public:
  // Why pcscd, vpcd or vicc cannot run here ("" when they can).
  static std::string unavailable();

  // Writes the configuration under `dir` and starts pcscd (started() tells).
  explicit VirtualReader(std::string dir);
  // Stops vicc and pcscd.
  ~VirtualReader();
  VirtualReader(const VirtualReader&) = delete;
  VirtualReader& operator=(const VirtualReader&) = delete;

  bool started() const { return pcscd_ != nullptr; }
  // The environment entry clients need: PCSCLITE_CSOCK_NAME=...
  std::string env() const { return "PCSCLITE_CSOCK_NAME=" + socket_; }
  const std::string& socket() const { return socket_; }
  // The reader that vicc's card goes into.
  std::string reader() const { return std::string(kVirtualReaderBase) + " 00 00"; }

  // pcscd: start (again), waiting until it listens on its socket and vpcd's
  // port; stop with SIGTERM; kill with SIGKILL (it leaves its files behind,
  // as after a crash).
  bool start_pcscd();
  void stop_pcscd();
  void kill_pcscd();
  bool pcscd_running() const;

  // vicc: the card goes in (vicc starts and connects to vpcd; pcscd sees
  // the card a moment later) or comes out (vicc ends).
  bool insert_card();
  void remove_card();
  // Waits (up to 10 s) until pcscd says a card is in reader() (or is not),
  // asking it from a process of its own, so that nothing of this process
  // (libpcsclite reads its socket's name once per process) or of the agent
  // is touched. True when it came to that.
  bool wait_for_card(bool present) const;

  // pcscd's and vicc's output so far, for failure messages.
  std::string log() const;

 private:
  bool write_config();

  std::string dir_, socket_;
  int port_ = 0;
  int pcscd_starts_ = 0, vicc_starts_ = 0;
  std::unique_ptr<BackgroundProcess> pcscd_, vicc_;
};

}  // namespace tessera::test

#endif  // TESSERA_TESTS_SUPPORT_PCSC_H_
