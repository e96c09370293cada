/* ats-cli.h — subcommands of attnscope-cli; each lives in ats-cli-<name>.c */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Each returns the process exit status: 0 ok, 1 failure, 2 usage error. argv[0] is the
 * subcommand name. */
typedef int (*AtsCliMain) (int argc, char **argv);

typedef struct
{
  const char *name;
  AtsCliMain  main;
  const char *summary;
} AtsCliCommand;

/* Prints "attnscope-cli: <message>" to stderr; returns 1. */
int ats_cli_fail (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* TRUE when stderr is a terminal (progress lines). */
gboolean ats_cli_stderr_is_tty (void);
/* "0,2,5-7" or "all" (or NULL) -> newly allocated mask [n]; NULL with @error naming --@what. */
gboolean *ats_cli_parse_index_spec (const char *spec, guint n, const char *what, GError **error);

G_END_DECLS
