// libfido2 I/O functions that carry 64-byte CTAPHID reports over a unix
// socket (SOCK_SEQPACKET, one report per message) instead of a hidraw device:
// the transport of the test hook (TESSERA_FIDO_TEST_DEVICE). libfido2 still
// does everything above the reports: CTAPHID framing, CBOR, the PIN protocol.
#ifndef TESSERA_FIDO_MIDDLEWARE_SOCKET_IO_H_
#define TESSERA_FIDO_MIDDLEWARE_SOCKET_IO_H_

#include <fido.h>

#include <cstddef>

namespace tessera::fido2 {

// A CTAPHID report as it travels over the socket (no report-ID byte).
inline constexpr size_t kHidReportLen = 64;

// The functions for fido_dev_set_io_functions(). open() takes the socket's
// path. A read waits at most its own timeout, and never past the deadline
// set with arm_socket_deadline(); a read with no timeout (-1) waits at most
// the deadline's length, so a silent peer cannot block forever.
const fido_dev_io_t& socket_io_functions();
// Sets the deadline for the exchanges that follow, timeout_ms from now.
void arm_socket_deadline(void* io_handle, int timeout_ms);
// The deadline of the exchanges inside the next fido_dev_open() on this thread
// (CTAPHID_INIT and getInfo), which run before there is a handle to arm.
void set_socket_open_timeout(int timeout_ms);

}  // namespace tessera::fido2

#endif  // TESSERA_FIDO_MIDDLEWARE_SOCKET_IO_H_
