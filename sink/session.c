/* Sink sessions: one per client session, its role, settings and where its table names resolve; freed once closed and without units. */
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

