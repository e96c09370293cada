/* ats-cli-info.c */
#include "ats-cli.h"

int
ats_cli_info_main (int argc, char **argv)
{
  return ats_cli_fail ("'info' is being written");
}
