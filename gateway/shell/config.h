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
#include "gateway/shell/admin.h"
#include "sip/msrp.h"
#include "sip/sip.h"
#include "store/store.h"
#include "xmpp/xmpp.h"

G_BEGIN_DECLS

#define PRL_CONFIG_ERROR (prl_config_error_quark ())
GQuark prl_config_error_quark (void);
typedef enum {
  PRL_CONFIG_ERROR_READ,    /* the file could not be read or parsed */
  PRL_CONFIG_ERROR_INVALID, /* one or more keys are wrong; the message lists each */
} PrlConfigError;

/* [offline]: which store, where, and its limits (the core's part is in PrlConfig.core). */
typedef struct {
  char *store;          /* "redis" or "memory"; NULL = none (parking off) */
  char *redis_host;     /* literal IP, or a UNIX socket path when redis_port is 0 */
  guint redis_port;
  guint redis_db;
  char *redis_prefix;
  char *instance;       /* lease holder name: unique per parleyd sharing one Redis */
  PrlStoreLimits limits;
} PrlOfflineConfig;

/* [chat]: the MSRP endpoint (sip/msrp.h); the session policy is in PrlConfig.core. */
typedef struct {
  gboolean enabled;
  PrlMsrpConfig msrp;
  guint64 max_size; /* a=max-size we advertise (= msrp.max_message_size) */
} PrlChatConfig;

typedef struct {
  char *path;
  GHashTable *values;   /* "group.key" -> effective value (text), every schema key */
  char **debug_domains; /* [daemon] debug_domains */
  guint trim_interval_s; /* [daemon] trim_interval_s: give freed heap back this often, 0 = never */
  PrlCoreConfig core;
  PrlXmppLinkConfig xmpp;
  PrlSipAgentConfig sip;
  PrlAdminConfig admin;
  PrlOfflineConfig offline;
  PrlChatConfig chat;
} PrlConfig;

/* Loads and validates @path. (transfer full) on success; NULL with @error listing every
 * problem (one per line) otherwise. */
PrlConfig *prl_config_load (const char *path, GError **error);
/* Same checks on text already in memory (@name is used in messages). */
PrlConfig *prl_config_load_data (const char *name, const char *data, GError **error);
/* The "group.key" names whose effective values differ, in schema order (transfer full; an
 * empty vector when none). Used by config.reload. */
char **prl_config_diff (const PrlConfig *a, const PrlConfig *b);
void prl_config_free (PrlConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlConfig, prl_config_free)

G_END_DECLS
