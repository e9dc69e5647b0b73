/*
 * expat-sentinel.c - LD_PRELOAD shim that lets Debian's Kamailio 5.6.3 xmpp module run.
 *
 * The module's start-element handlers read the expat attribute array one slot past its NULL
 * terminator (upstream kamailio#4154) and crash on the first element. This shim interposes
 * XML_SetElementHandler and XML_SetStartElementHandler: the module's start handler is
 * replaced by a trampoline that copies the attribute array and adds one extra "" entry
 * before the terminating NULL, so the extra read finds a valid string. Nothing else changes.
 *
 * Build: gcc -O2 -shared -fPIC -o expat-sentinel.so expat-sentinel.c -ldl
 * Use:   LD_PRELOAD=/path/expat-sentinel.so kamailio -f kx.cfg ...
 *
 * Written for Parley's benchmark (bench/); used only for the reference gateway.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 8                  /* distinct start handlers wrapped (the module has 2) */
#define STACK_ATTRS 64           /* attribute arrays up to this size copied on the stack */

static XML_StartElementHandler orig[SLOTS];
static int used;

static void call(int slot, void *ud, const XML_Char *name, const XML_Char **atts)
{
	const XML_Char *local[STACK_ATTRS];
	const XML_Char **copy = local;
	size_t n = 0;

	while (atts && atts[n])
		n++;
	if (n + 2 > STACK_ATTRS) {
		copy = malloc((n + 2) * sizeof *copy);
		if (!copy) {
			orig[slot](ud, name, atts);
			return;
		}
	}
	if (n)
		memcpy(copy, atts, n * sizeof *copy);
	copy[n] = "";                /* the sentinel the module reads past the end */
	copy[n + 1] = NULL;
	orig[slot](ud, name, copy);
	if (copy != local)
		free(copy);
}

#define TRAMPOLINE(i) \
	static void tramp##i(void *ud, const XML_Char *name, const XML_Char **atts) \
	{ call(i, ud, name, atts); }
TRAMPOLINE(0) TRAMPOLINE(1) TRAMPOLINE(2) TRAMPOLINE(3)
TRAMPOLINE(4) TRAMPOLINE(5) TRAMPOLINE(6) TRAMPOLINE(7)
static const XML_StartElementHandler tramps[SLOTS] = {
	tramp0, tramp1, tramp2, tramp3, tramp4, tramp5, tramp6, tramp7
};

/* expat's own function: RTLD_NEXT finds nothing when libexpat came in with a module that
 * Kamailio dlopen()ed without RTLD_GLOBAL, so fall back to the loaded libexpat itself. */
static void *real_sym(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	void *h;

	if (f)
		return f;
	h = dlopen("libexpat.so.1", RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		h = dlopen("libexpat.so.1", RTLD_NOW);
	f = h ? dlsym(h, name) : NULL;
	if (!f)
		abort();                 /* no expat: nothing sensible to do */
	return f;
}

/* The trampoline for handler h (h itself if h is NULL or every slot is taken). */
static XML_StartElementHandler wrap(XML_StartElementHandler h)
{
	int i;

	if (!h)
		return h;
	for (i = 0; i < SLOTS; i++)
		if (tramps[i] == h)
			return h;            /* already ours */
	for (i = 0; i < used; i++)
		if (orig[i] == h)
			return tramps[i];
	if (used == SLOTS)
		return h;
	orig[used] = h;
	return tramps[used++];
}

void XML_SetElementHandler(XML_Parser p, XML_StartElementHandler start, XML_EndElementHandler end)
{
	static void (*real)(XML_Parser, XML_StartElementHandler, XML_EndElementHandler);

	if (!real)
		real = (void (*)(XML_Parser, XML_StartElementHandler, XML_EndElementHandler))
			real_sym("XML_SetElementHandler");
	real(p, wrap(start), end);
}

void XML_SetStartElementHandler(XML_Parser p, XML_StartElementHandler start)
{
	static void (*real)(XML_Parser, XML_StartElementHandler);

	if (!real)
		real = (void (*)(XML_Parser, XML_StartElementHandler))
			real_sym("XML_SetStartElementHandler");
	real(p, wrap(start));
}
