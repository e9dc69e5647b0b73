/* gateway/vector.h - loader and runner for test-vectors/ .vec files.
 *
 * The format is specified in test-vectors/README.md; this is its one implementation. A loaded
 * PrlVector holds the core configuration and a list of steps, each either an event for
 * prl_core_handle() or a probe of a pure table (addr-map.h, error-map.h), with the expected
 * output lines. The runner feeds the steps to a fresh core and compares text.
 * Users: gateway/tests/test-vectors.c (GTest and CLI), gateway/fuzz/fuzz-vector.c.
 * Not part of the daemon: built as its own library, linked only by tests and fuzzers.
 */
#pragma once

#include "gateway/core.h"

G_BEGIN_DECLS

#define PRL_VECTOR_ERROR (prl_vector_error_quark ())
GQuark prl_vector_error_quark (void);

typedef enum {
  PRL_VECTOR_ERROR_SYNTAX,  /* the file does not follow test-vectors/README.md */
  PRL_VECTOR_ERROR_TOO_BIG, /* values over PRL_VECTOR_MAX_BYTES in total */
} PrlVectorError;

/* Bound on the bytes all values of one file may expand to (repeat()). */
#define PRL_VECTOR_MAX_BYTES (8u * 1024 * 1024)

typedef enum {
  PRL_VECTOR_STEP_EVENT,            /* sip.*, xmpp.*, store.*, timer, tick */
  PRL_VECTOR_STEP_ADDR_SIP_TO_XMPP, /* probes */
  PRL_VECTOR_STEP_ADDR_XMPP_TO_SIP,
  PRL_VECTOR_STEP_ERROR_SIP_TO_XMPP,
  PRL_VECTOR_STEP_ERROR_XMPP_TO_SIP,
} PrlVectorStepKind;

typedef struct {
  PrlVectorStepKind kind;
  char *name;     /* the kind as written after '>' */
  guint line;     /* line number of the '>' statement */
  PrlEvent event; /* EVENT steps; owns event.sip / event.xmpp / response.reason and the
                     strings of presence, reg and store.messages */
  char *from;     /* addr probes: from, to; error.xmpp-to-sip: condition, jid */
  char *to;
  char *condition;
  char *jid;
  char *address;
  guint status;   /* error.sip-to-xmpp */
  char *expected; /* expected lines, each ending in '\n'; "" for no output */
} PrlVectorStep;

typedef struct {
  char *name;  /* file path, or the label given to _load_data */
  char *title; /* the first comment, without '#', or NULL */
  PrlCoreConfig config;
  GPtrArray *steps; /* PrlVectorStep*, owned */
} PrlVector;

/* Reads and parses a .vec file. (transfer full), or NULL with @error set. */
PrlVector *prl_vector_load (const char *path, GError **error);
/* Parses @len bytes (need not be NUL-terminated); @name labels messages. */
PrlVector *prl_vector_load_data (const char *data, gsize len, const char *name, GError **error);
void prl_vector_free (PrlVector *vector);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PrlVector, prl_vector_free)

/* Called after every event step with the actions the core produced (borrowed). */
typedef void (*PrlVectorObserver) (const PrlVector *vector, const PrlVectorStep *step,
                                   GPtrArray *actions, gpointer user_data);

/* Runs every step on a fresh core. Returns TRUE if every output matched; otherwise FALSE and,
 * if @diff is not NULL, a unified-style diff (transfer full) of expected (-) and got (+)
 * lines per failing step. @observer may be NULL. */
gboolean prl_vector_run (const PrlVector *vector, PrlVectorObserver observer, gpointer user_data,
                         char **diff);

/* The output text of one probe step (transfer full), lines ending in '\n'. */
char *prl_vector_probe (const PrlVector *vector, const PrlVectorStep *step);

G_END_DECLS
