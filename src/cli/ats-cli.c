/* ats-cli.c — attnscope-cli: subcommand dispatch
 *
 * Every subcommand lives in ats-cli-<name>.c and is listed in the table below.
 */
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ats-cli.h"

/* Subcommands (keep sorted). */
int ats_cli_capture_main (int argc, char **argv);
int ats_cli_diff_main (int argc, char **argv);
int ats_cli_info_main (int argc, char **argv);
int ats_cli_lazy_main (int argc, char **argv);
int ats_cli_merge_main (int argc, char **argv);
int ats_cli_render_main (int argc, char **argv);
int ats_cli_stats_main (int argc, char **argv);
int ats_cli_sweep_main (int argc, char **argv);
int ats_cli_tokenize_main (int argc, char **argv);
int ats_cli_whatif_main (int argc, char **argv);

static const AtsCliCommand commands[] = {
  { "capture", ats_cli_capture_main,
    "Run prompts through a model and write every attention map to HDF5" },
  { "diff", ats_cli_diff_main, "Compare the weights of two checkpoints per layer and tensor kind" },
  { "info", ats_cli_info_main, "Show what a checkpoint folder or capture file holds" },
  { "lazy", ats_cli_lazy_main,
    "Draw a Lazy Attention model's tau map or distance-bias curves (PNG, SVG, PDF)" },
  { "merge", ats_cli_merge_main,
    "Merge a base checkpoint with fine-tuned ones (linear, task arithmetic, TIES)" },
  { "render", ats_cli_render_main,
    "Draw attention maps and diagnostics of a capture to PNG, SVG or PDF" },
  { "stats", ats_cli_stats_main,
    "Recompute the attention diagnostics of a capture file and print them" },
  { "sweep", ats_cli_sweep_main, "Capture diagnostics of in-memory merges across alpha or lambda" },
  { "tokenize", ats_cli_tokenize_main,
    "Print the token ids (or pieces) of each input line as JSON" },
  { "whatif", ats_cli_whatif_main,
    "What-if Elastic-Softmax: sparsity and removed mass of max(0, A + tau/i) on a capture" },
};

int
ats_cli_fail (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *msg = g_strdup_vprintf (format, args);
  va_end (args);
  fprintf (stderr, "attnscope-cli: %s\n", msg);
  return 1;
}

gboolean
ats_cli_stderr_is_tty (void)
{
  return isatty (STDERR_FILENO);
}

static void
print_usage (FILE *out)
{
  fprintf (out, "Usage: attnscope-cli COMMAND [OPTIONS]\n\nCommands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nRun 'attnscope-cli COMMAND --help' for the options of a command.\n");
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      print_usage (stderr);
      return 2;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 ||
      strcmp (argv[1], "help") == 0)
    {
      print_usage (stdout);
      return 0;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("attnscope-cli %s\n", ATS_VERSION);
      return 0;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].main (argc - 1, argv + 1);

  fprintf (stderr, "attnscope-cli: unknown command '%s'\n\n", argv[1]);
  print_usage (stderr);
  return 2;
}
