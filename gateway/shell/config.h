/* gateway/shell/config.h - parley.conf: schema, defaults, validation, --check-config.
 *
 * The daemon's configuration is one GKeyFile (examples/parley.conf documents every key and
 * its default). prl_config_load() reads and checks the whole file and reports *every* bad key
 * as "FILE:LINE: [group] key: problem", so an operator fixes a file in one pass. The result
 * owns the per-folder configuration structs handed to the core and the adapters.
 */
#pragma once

#include <glib.h>

#include "gateway/core.h"
#include "sip/sip.h"
#include "xmpp/xmpp.h"

G_BEGIN_DECLS

#define PRL_CONFIG_ERROR (prl_config_error_quark ())
GQuark prl_config_error_quark (void);
typedef enum {
  PRL_CONFIG_ERROR_READ,    /* the file could not be read or parsed */
  PRL_CONFIG_ERROR_INVALID, /* one or more keys are wrong; the message lists each */
} PrlConfigError;

typedef struct {
  char *path;
  char **debug_domains; /* [daemon] debug_domains */
  PrlCoreConfig core;
  PrlXmppLinkConfig xmpp;
  PrlSipAgentConfig sip;
} PrlConfig;

/* Loads and validates @path. (transfer full) on success; NULL with @error listing every
 * problem (one per line) otherwise. */
PrlConfig *prl_config_load (const char *path, GError **error);
/* Same checks on text already in memory (@name is used in messages). */
PrlConfig *prl_config_load_data (const char *name, const char *data, GError **error);
void prl_config_free (PrlConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlConfig, prl_config_free)

G_END_DECLS
