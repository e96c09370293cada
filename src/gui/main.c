/* main.c — attnscope desktop app entry point
 *
 *   attnscope                 an empty window
 *   attnscope FILE.h5 ...     open capture files
 *   attnscope MODEL_DIR       open a model folder to capture prompts
 */
#include <gtk/gtk.h>

#include "ats-application.h"

int
main (int argc, char **argv)
{
  g_autoptr (AtsApplication) app = NULL;

  g_set_application_name ("attnscope");
  app = ats_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
