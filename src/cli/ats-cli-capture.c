/* ats-cli-capture.c */
#include "ats-cli.h"

int
ats_cli_capture_main (int argc, char **argv)
{
  return ats_cli_fail ("'capture' is being written");
}
