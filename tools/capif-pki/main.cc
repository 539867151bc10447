// capif-pki: domain CAs and SPIFFE-identity certificates for capif-fed. See pki_command.h.
#include <iostream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "tools/capif-pki/pki_command.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return capif::RunPkiCommand(args, std::cout, std::cerr, capif::Clock::Real());
}
