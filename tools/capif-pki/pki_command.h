// The capif-pki command line: domain root CAs and SPIFFE-identity certificates.
//
//   capif-pki init-domain --trust-domain operator-a.example --out DIR [--validity-days N]
//       writes DIR/ca.pem (root certificate, also the domain's trust bundle) and DIR/ca.key (0600)
//   capif-pki issue --ca DIR --spiffe-id spiffe://operator-a.example/ccf/ccf-a
//                   [--dns NAME]... [--ip ADDR]... [--validity-days N] --out DIR
//       writes DIR/cert.pem, DIR/key.pem (0600) and DIR/ca.pem (the issuing CA)
//
// Exit codes: 0 done; 2 bad arguments (message on `err`, nothing written); 1 a failure while
// reading or writing files (anything already written by this run is removed).
// Existing output files are never overwritten.
#ifndef CAPIF_TOOLS_CAPIF_PKI_PKI_COMMAND_H_
#define CAPIF_TOOLS_CAPIF_PKI_PKI_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "common/clock.h"

namespace capif {

// `args` excludes the program name.
int RunPkiCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                  const Clock& clock);

}  // namespace capif

#endif  // CAPIF_TOOLS_CAPIF_PKI_PKI_COMMAND_H_
