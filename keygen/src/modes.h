// The modes of tessera-keygen, one source file each. Each returns the
// process exit status and has printed whatever the user needs to see.
#ifndef TESSERA_KEYGEN_MODES_H_
#define TESSERA_KEYGEN_MODES_H_

#include "options.h"

namespace tessera::keygen {

int run_generate(const Options& options);           // generate.cc
int run_fingerprint(const Options& options);        // fingerprint.cc: -l, -B
int run_change_passphrase(const Options& options);  // change_passphrase.cc: -p
int run_change_comment(const Options& options);     // change_comment.cc: -c
int run_export(const Options& options);             // convert.cc: -e
int run_import(const Options& options);             // convert.cc: -i
int run_print_public(const Options& options);       // convert.cc: -y
int run_certify(const Options& options);            // cert_sign.cc: -s
int run_import_log(const Options& options);         // ca_import.cc: --import-log
int run_show_certificate(const Options& options);   // cert_show.cc: -L
int run_signature(const Options& options);          // signature.cc: -Y
int run_list_token_keys(const Options& options);    // token.cc: -D
int run_download_resident_keys(const Options& options);  // security_key.cc: -K
int run_generate_krl(const Options& options);       // krl.cc: -k
int run_query_krl(const Options& options);          // krl.cc: -Q
int run_known_hosts(const Options& options);        // known_hosts.cc: -F, -H, -R
int run_print_resource_record(const Options& options);  // known_hosts.cc: -r

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_MODES_H_
