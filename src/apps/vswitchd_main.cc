// hsw-vswitchd: see src/vswitchd/vswitchd.h.
#include "vswitchd/vswitchd.h"

int main(int argc, char** argv) { return hsw::vswitchd::VswitchdMain(argc, argv); }
