// droverctl: the operator CLI.
#include "supervisor/droverctl.h"

int main(int argc, char** argv) { return drover::DroverctlMain(argc, argv); }
