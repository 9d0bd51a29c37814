// tessera-keygen: an ssh-keygen-compatible key tool. Parses the command line
// and runs one mode; the modes live in one file each (see modes.h).
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <variant>

#include "modes.h"
#include "tessera/sys/stdfd.h"
#include "options.h"
#include "output.h"

namespace {

int run(const tessera::keygen::Options& options) {
  using tessera::keygen::Operation;
  switch (options.operation) {
    case Operation::kSignature: return tessera::keygen::run_signature(options);
    case Operation::kListTokenKeys: return tessera::keygen::run_list_token_keys(options);
    case Operation::kDownloadResidentKeys: return tessera::keygen::run_download_resident_keys(options);
    case Operation::kGenerateKrl: return tessera::keygen::run_generate_krl(options);
    case Operation::kQueryKrl: return tessera::keygen::run_query_krl(options);
    case Operation::kCertify: return tessera::keygen::run_certify(options);
    case Operation::kImportLog: return tessera::keygen::run_import_log(options);
    case Operation::kShowCertificate: return tessera::keygen::run_show_certificate(options);
    case Operation::kKnownHosts: return tessera::keygen::run_known_hosts(options);
    case Operation::kFingerprint: return tessera::keygen::run_fingerprint(options);
    case Operation::kChangePassphrase: return tessera::keygen::run_change_passphrase(options);
    case Operation::kChangeComment: return tessera::keygen::run_change_comment(options);
    case Operation::kExport: return tessera::keygen::run_export(options);
    case Operation::kImport: return tessera::keygen::run_import(options);
    case Operation::kPrintPublic: return tessera::keygen::run_print_public(options);
    case Operation::kPrintResourceRecord: return tessera::keygen::run_print_resource_record(options);
    case Operation::kGenerate: return tessera::keygen::run_generate(options);
  }
  return tessera::keygen::kExitFatal;
}

}  // namespace

int main(int argc, char** argv) {
  if (!tessera::sys::sanitise_standard_fds().ok()) return 255;
  // Private keys and passphrases pass through this process: no core dumps.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  tessera::keygen::init_locale();

  auto parsed = tessera::keygen::parse_command_line(argc, argv);
  if (auto* error = std::get_if<tessera::keygen::CommandLineError>(&parsed)) {
    if (!error->message.empty()) tessera::keygen::print_error(error->message);
    if (error->show_usage) tessera::keygen::print_usage(stderr);
    return error->exit_status;
  }
  const auto& options = std::get<tessera::keygen::Options>(parsed);
  if (options.show_help) {
    tessera::keygen::print_help(stdout);
    return tessera::keygen::kExitOk;
  }
  int status = run(options);
  if (std::fflush(stdout) != 0 && status == tessera::keygen::kExitOk) status = tessera::keygen::kExitFailure;
  return status;
}
