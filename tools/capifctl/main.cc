// capifctl: the capif-fed operator CLI. See capifctl_command.h.
#include <iostream>
#include <string>
#include <vector>

#include "tools/capifctl/capifctl_command.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return capif::RunCapifctl(args, std::cout, std::cerr);
}
