/* The interception session's hooks for the session core: one seam, dispatched to the modules. */
#include "proxy/isess.h"

#include <stdlib.h>

#include "proxy/absorb.h"
#include "proxy/client.h"
#include "proxy/copyin.h"
#include "proxy/direct.h"
#include "proxy/extq.h"
#include "proxy/intercept.h"
#include "proxy/pstmt.h"
#include "proxy/replyq.h"
#include "proxy/txn.h"
#include "proxy/view.h"

#define SEAM_INTERCEPTION
#include "proxy/seam.h"

/* ---------------------------------------------------------- its life -- */

void isess_end(struct client *c)
{
	struct isess *is = &c->is;

	txn_free(c);
	view_free(c);
	intercept_session_end(c);
	direct_free(c);
	extq_free(c);
	absorb_free(c);
	copyin_free(is->copy_next);
	is->copy_next = NULL;
	for (int i = 0; i < 4; i++) {
		free(is->settings[i]);
		is->settings[i] = NULL;
	}
}

void isess_backend_closing(struct client *c)
{
	direct_session_end(c);
}

void isess_abort(struct client *c)
{
	direct_abort(c);
}

void isess_backend_ready(struct client *c)
{
	view_prefetch(c);
}

void isess_login_view(struct client *c, const uint8_t *row, uint32_t len, int ntables)
{
	(void)view_install(c, row, len, ntables);   /* (else asked as usual) */
}

void isess_backend_joined(struct client *c, bool for_direct, bool quiet)
{
	if (!for_direct)
		return;
	if (quiet && !c->is.in_group)
		view_joined(c);
	else
		view_stale(c);
}

bool isess_view_question(struct sink *s, struct pktbuf *q)
{
	return view_question(s, true, q);
}

bool isess_cancel_after_replay(struct client *c)
{
	return absorb_cancel_after(c);
}

bool isess_replay(struct client *c, struct evbuffer *to_backend)
{
	return absorb_replay(c, to_backend);
}

bool isess_param_relayed(struct client *c, const uint8_t *body, uint32_t len)
{
	return absorb_param_new(c, body, len);
}

/* --------------------------------------------------------- its input -- */

bool isess_absorb(struct client *c, struct evbuffer *in)
{
	return absorb_try(c, in);
}

bool isess_may_forward(struct client *c, uint8_t type)
{
	return extq_before_forward(c, type) && (type != 'Q' || txn_gate(c, NULL, 0) == TG_GO);
}

bool isess_may_end(struct client *c)
{
	return extq_before_forward(c, 'X') && !txn_busy(c) && !intercept_undecided(c);
}

void isess_input_ended(struct client *c)
{
	txn_abandon(c);
}

void isess_message(struct client *c, uint8_t t, bool answered)
{
	bool inert = t == 'Q' && c->is.inert_query;     /* an INSERT of constants (clause.c) */

	c->is.inert_query = false;
	if (t == 'P' || t == 'B' || t == 'E' || t == 'D' || t == 'C')
		c->is.in_group = true;
	else if (t == 'S' || t == 'Q')
		c->is.in_group = false;
	if (answered && !inert && t != 'S' && t != 'D' && t != 'C')
		view_stale(c);      /* it may change the role, search_path, a setting */
}

void isess_entry(struct client *c, struct rq_entry *e, uint8_t t)
{
	if (t == 'Q' && c->is.copy_next) {
		rq_attach_copy(e, c->is.copy_next);
		c->is.copy_next = NULL;
	}
	if (c->is.capture_owner) {
		rq_capture(e, c->is.capture_owner);
		c->is.capture_owner = NULL;
	}
}

/* ------------------------------------------------ the backend's answers -- */

void isess_ready(struct client *c, char tx_status)
{
	txn_ready(c, tx_status);
	intercept_ready(c, tx_status);
}

bool isess_forward_woken(struct client *c)
{
	if (!c->is.waiting_forward)
		return false;
	c->is.waiting_forward = false;
	return true;
}

/* Entries with an owner: the replayed SETs', the session view's question, a
 * direct write's, a transaction's (a Query it sent) or a prepared
 * statement's (Parse, Describe). */
void isess_captured(struct client *c, struct rq_entry *e, uint8_t type, const uint8_t *body, uint32_t len)
{
	if (absorb_owns(c, e))
		return;         /* (the replay's answers: nothing to learn) */
	if (view_owns(c, e))
		view_captured(c, e, type, body, len);
	else if (direct_owns(c, e))
		direct_captured(c, e, type, body, len);
	else if (e->msg == 'Q')
		txn_captured(c, e, type, body, len);
	else
		pstmt_captured(c, e, type, body, len);
}

void isess_entry_done(struct client *c, struct rq_entry *e)
{
	if (absorb_owns(c, e)) {
		absorb_entry_done(c);
	} else if (view_owns(c, e)) {
		view_entry_done(c, e);
		txn_view_done(c);
	} else if (direct_owns(c, e))
		direct_entry_done(c, e);
	else if (e->msg == 'Q')
		txn_entry_done(c, e);
	else
		pstmt_entry_done(c, e);
	extq_probe_done(c);
}

bool isess_late(struct client *c, struct rq_entry *e, struct pktbuf *out)
{
	return txn_late(c, e, out);
}

/* ------------------------------------------------- what the core knows -- */

bool isess_settled(const struct client *c)
{
	return c->is.pending == NULL;
}

bool isess_bare(const struct client *c)
{
	return c->is.xq == NULL && c->is.txn == NULL && c->is.pending == NULL;
}
