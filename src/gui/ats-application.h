/* ats-application.h — the attnscope GtkApplication */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define ATS_APPLICATION_ID "org.attnscope.Attnscope"
#define ATS_TYPE_APPLICATION (ats_application_get_type ())

G_DECLARE_FINAL_TYPE (AtsApplication, ats_application, ATS, APPLICATION, GtkApplication)

AtsApplication *ats_application_new (void);
/* Registers the resources and loads style.css (also used by tests that build widgets). */
void ats_application_init_resources (void);

G_END_DECLS
