/* ats-cli.c — attnscope-cli: subcommand dispatch */
#include <glib.h>
#include <stdio.h>
#include <string.h>

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: attnscope-cli COMMAND [OPTIONS]\n");
      return 2;
    }
  fprintf (stderr, "attnscope-cli: unknown command '%s'\n", argv[1]);
  return 2;
}
