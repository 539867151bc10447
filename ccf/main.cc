// ccfd: the capif-fed CAPIF core function daemon. See ccf_daemon.h.
#include "ccf/daemon/ccf_daemon.h"

int main(int argc, char** argv) { return capif::RunCcfd(argc, argv); }
