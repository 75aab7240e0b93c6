// hsw-ctl: see src/ctl/ctl.h.
#include <iostream>

#include "ctl/ctl.h"

int main(int argc, char** argv) {
  return hsw::ctl::Main(argc, argv, std::cin, std::cout, std::cerr);
}
