/* Sink sessions: one per client session, its role, settings (and what sets them for its rows) and where its table names resolve; freed once closed and without units. */
#include "sink/internal.h"

#include <stdlib.h>
#include <string.h>

struct sink_session *sink_session_open(struct sink *s, const struct sink_client *c)
{
	struct sink_session *ss = calloc(1, sizeof(*ss));

	if (ss == NULL)
		return NULL;
	ss->s = s;
	ss->c = *c;
	ss->user = strdup(c->user ? c->user : "");
	ss->prefix = strdup(c->prefix ? c->prefix : "");
	ss->peer = c->peer ? strdup(c->peer) : NULL;
	ss->role = ss->user ? sink_role(s, ss->user) : NULL;
	if (!ss->user || !ss->prefix || !ss->role) {
		free(ss->user);
		free(ss->prefix);
		free(ss->peer);
		free(ss);
		return NULL;
	}
	ss->c.user = ss->user;
	ss->c.prefix = ss->prefix;
	ss->c.peer = ss->peer;
	ss->next = s->sessions;
	if (s->sessions)
		s->sessions->prev = ss;
	s->sessions = ss;
	return ss;
}

void sink_session_setting(struct sink_session *ss, const char *name, const char *value)
{
	for (int i = 0; i < SINK_SETTINGS; i++)
		if (strcmp(name, sink_setting_names[i]) == 0) {
			free(ss->settings[i]);
			ss->settings[i] = value ? strdup(value) : NULL;
			ss->settings_diff_gen = 0;
		}
}

static void unlink_waiting(struct sink_session *ss)
{
	struct sink_session **pp;

	if (!ss->waiting)
		return;
	for (pp = &ss->s->waiting; *pp; pp = &(*pp)->wnext)
		if (*pp == ss) {
			*pp = ss->wnext;
			break;
		}
	ss->waiting = false;
	ss->wnext = NULL;
}

void sink_session_role(struct sink_session *ss, const char *role)
{
	const char *r = sink_role(ss->s, role);
	char *user = strdup(role);

	if (r == NULL || user == NULL) {
		free(user);
		return;
	}
	free(ss->user);
	ss->user = user;
	ss->c.user = ss->user;
	ss->role = r;
}

void sink_session_private(struct sink_session *ss, bool on)
{
	ss->private_settings = on;
}

void sink_session_custom(struct sink_session *ss)
{
	ss->custom_settings = true;
}

void sink_session_busy(struct sink_session *ss)
{
	if (ss->gather_tab && gather_arrived(ss->s, ss))
		sched_gather_over(ss->s);
}

bool sink_session_seq_taken(const struct sink_session *ss)
{
	return ss && ss->seq_taken;
}

void sink_session_seq_pass(struct sink_session *ss)
{
	ss->seq_pass = true;
	ss->seq_taken = false;
}

void sink_session_resolved(struct sink_session *ss, const uint32_t *oids, int n)
{
	uint32_t *copy = calloc((size_t)n + 1, sizeof(*copy));

	if (copy == NULL)
		return;
	memcpy(copy, oids, (size_t)n * sizeof(*copy));
	free(ss->resolved);
	ss->resolved = copy;
	ss->nresolved = n;
}

void session_free(struct sink_session *ss)
{
	struct sink *s = ss->s;

	unlink_waiting(ss);
	if (ss->prev)
		ss->prev->next = ss->next;
	else
		s->sessions = ss->next;
	if (ss->next)
		ss->next->prev = ss->prev;
	for (int i = 0; i < SINK_SETTINGS; i++)
		free(ss->settings[i]);
	free(ss->user);
	free(ss->resolved);
	free(ss->peer);
	free(ss->prefix);
	free(ss);
}

void sink_session_close(struct sink_session *ss)
{
	if (ss == NULL)
		return;
	ss->closed = true;
	if (gather_arrived(ss->s, ss))
		sched_gather_over(ss->s);
	if (ss->nunits == 0)
		session_free(ss);
}


/* ---- the settings a session's rows are written under ---- */

#define SET_DATESTYLE 1
#define SET_CLIENT_ENCODING 3

/* SELECT set_config(name, value, true), ... for every setting but
 * client_encoding: the session's value where it has one, else the
 * connections'. own: the connections' DateStyle as they set it (ISO output,
 * the server's field order, which alone decides how a date reads). */
static bool ctx_text(struct buf *b, const struct sink *s, char *const *settings, bool own)
{
	const char *v, *order;
	int i, k = 0;

	buf_puts(b, "SELECT ");
	for (i = 0; i < SINK_SETTINGS; i++) {
		if (i == SET_CLIENT_ENCODING)
			continue;
		v = settings[i] ? settings[i] : s->settings[i];
		if (v == NULL)
			continue;
		buf_puts(b, k++ ? ", pg_catalog.set_config(" : "pg_catalog.set_config(");
		sg_literal(b, sink_setting_names[i], strlen(sink_setting_names[i]));
		buf_puts(b, ", ");
		if (own && i == SET_DATESTYLE) {
			order = strchr(v, ',');
			buf_puts(b, "'ISO");
			while (order && (*order == ',' || *order == ' '))
				order++;
			if (order && *order && strchr(order, '\'') == NULL && strchr(order, '\\') == NULL) {
				buf_puts(b, ", ");
				buf_puts(b, order);
			}
			buf_putc(b, '\'');
		} else {
			sg_literal(b, v, strlen(v));
		}
		buf_puts(b, ", true)");
	}
	return k > 0 && buf_ok(b);
}

const char *session_ctx(struct sink *s, const struct sink_session *ss)
{
	struct buf b;
	char **list;
	const char *found = NULL;
	int i;

	buf_init(&b);
	if (!ctx_text(&b, s, ss->settings, false))
		goto out;
	for (i = 0; i < s->nctxs && !found; i++)
		if (strcmp(s->ctxs[i], b.data) == 0)
			found = s->ctxs[i];
	if (found || s->nctxs >= SINK_CTX_MAX)
		goto out;
	list = realloc(s->ctxs, (size_t)(s->nctxs + 1) * sizeof(*list));
	if (list == NULL)
		goto out;
	s->ctxs = list;
	s->ctxs[s->nctxs] = strdup(b.data);
	if (s->ctxs[s->nctxs])
		found = s->ctxs[s->nctxs++];
out:
	buf_free(&b);
	return found;
}

const char *sink_ctx_own(struct sink *s)
{
	char *none[SINK_SETTINGS] = { NULL };
	struct buf b;

	if (s->ctx_own && s->ctx_own_gen == s->settings_gen)
		return s->ctx_own;
	free(s->ctx_own);
	s->ctx_own = NULL;
	buf_init(&b);
	if (ctx_text(&b, s, none, true))
		s->ctx_own = strdup(b.data);
	buf_free(&b);
	s->ctx_own_gen = s->settings_gen;
	return s->ctx_own;
}
