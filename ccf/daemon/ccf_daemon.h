// The ccfd process: loads the configuration, serves the CAPIF-6/6e bus, and stops cleanly on
// SIGTERM or SIGINT (calls in flight get a grace period, then the process exits 0).
//
//   ccfd --config FILE        run
//   ccfd --config FILE --check-config   load and check the configuration, then exit
//
// On start it prints one line to stdout, "ccfd <ccf-id> listening on <host>:<port>", once the
// port is bound (useful with port 0). Exit codes: 0 clean stop or valid config; 2 bad arguments or
// configuration (the message names the field); 1 other start-up failures (e.g. port in use,
// or another ccfd already serving the same data_dir).
//
// With a northbound, ccfd also serves its admin API (proto/admin.proto, ccf/daemon/admin_service.h)
// on the unix socket <data_dir>/admin.sock (mode 0600), ready before the first line is printed,
// and removes the socket file when it stops cleanly; capifctl uses it.
#ifndef CAPIF_CCF_DAEMON_CCF_DAEMON_H_
#define CAPIF_CCF_DAEMON_CCF_DAEMON_H_

namespace capif {

int RunCcfd(int argc, char** argv);

}  // namespace capif

#endif  // CAPIF_CCF_DAEMON_CCF_DAEMON_H_
