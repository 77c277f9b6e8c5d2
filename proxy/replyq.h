/* The outstanding-request queue of a client session: one entry per message owed an answer, in the order sent; no sockets. */
#ifndef PGBATCHD_PROXY_REPLYQ_H
#define PGBATCHD_PROXY_REPLYQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/pktbuf.h"

struct copyin;

/*
 * Every frontend message that gets an answer has an entry: Query, Parse, Bind,
 * Describe, Execute, Close, Sync, FunctionCall (Flush, Terminate and COPY data
 * have none). An entry is one of
 *   RQ_FORWARD  the backend answers it; its answer is relayed;
 *   RQ_OWN      pgbatchd answers it with bytes of its own, once ready;
 *   RQ_SKIP     pgbatchd sent the backend a message the client never sent
 *               (a Flush-free injection: a Query, a ROLLBACK); its answer is
 *               swallowed.
 * Backend messages are matched to the head entry by type: ParseComplete,
 * BindComplete, CloseComplete, RowDescription / NoData (Describe),
 * CommandComplete / EmptyQueryResponse / PortalSuspended (Execute) and
 * ReadyForQuery (Query, Sync, FunctionCall) end an answer; ErrorResponse ends
 * the answer of an extended-protocol message and, as the backend then skips
 * everything up to Sync, the entries between it and that Sync get no answer.
 * An answer of our own that is an error does the same to what follows it.
 * NoticeResponse, NotificationResponse and ParameterStatus belong to
 * whatever runs; those of a SKIP entry's statement are swallowed (not
 * ParameterStatus and NotificationResponse: they are the session's).
 */

enum rq_kind { RQ_FORWARD = 0, RQ_OWN, RQ_SKIP };

struct rq_entry {
	struct rq_entry *next;
	enum rq_kind kind;
	uint8_t msg;                /* the frontend message it answers */
	bool ready;                 /* RQ_OWN: `own` holds the answer */
	bool cancelled;             /* RQ_OWN: an error before it in its Sync group: no answer */
	bool muted;                 /* RQ_FORWARD: the client is not to hear the answer */
	bool error;                 /* its answer was (or held) an ErrorResponse */
	bool skipped;               /* the backend skipped it (an error before it in its group) */
	bool capture;               /* its ErrorResponse, ParameterDescription and
	                               CommandComplete are shown to the session first
	                               (isess_captured) */
	bool notices;               /* RQ_SKIP: its NoticeResponses reach the client */
	bool relay_error;           /* RQ_SKIP: its ErrorResponse reaches the client (a Parse
	                               sent ahead of a message of the client's, which fails
	                               with it, as that message would directly) */
	bool late;                  /* RQ_FORWARD: the first ErrorResponse, CommandComplete
	                               or EmptyQueryResponse of its answer may be replaced (on_late) */
	struct pktbuf own;          /* RQ_OWN: the answer */
	struct copyin *copy;        /* RQ_FORWARD: a COPY given its table's clause, its answer
	                               rewritten (copyin.h); freed with the entry */
	void *owner;                /* for the one who made it */
};

struct replyq {
	struct rq_entry *head, *tail;
	size_t n;
	/* Each hook gets `arg`; e->owner says whose the entry is. */
	/* an OWN entry is cancelled (the client will not hear its answer) */
	void (*on_cancel)(void *arg, struct rq_entry *e);
	/* a SKIP entry's answer is complete (e->error: it held an error) */
	void (*on_skip_done)(void *arg, struct rq_entry *e);
	/* the backend answered an extended-protocol message with an error */
	void (*on_error)(void *arg);
	/* a capture entry (not RQ_OWN) is answered, or skipped after an error
	 * (e->error set either way when it did not succeed) */
	void (*on_done)(void *arg, struct rq_entry *e);
	/* a late entry's first ErrorResponse, CommandComplete or EmptyQueryResponse: true when the
	 * hook wrote its replacement to the client (the message is dropped) */
	bool (*on_late)(void *arg, struct rq_entry *e);
	void *arg;
	bool late_mode;             /* RQ_FORWARD entries pushed now are late */
	bool skipping;              /* the backend discards messages until a Sync */
	size_t nskipped;            /* entries it skipped as they came, not yet done */
};

/*
 * An entry is changed only by the functions of this header: its maker
 * writes an answer of its own into rq_answer() and marks it ready, or makes
 * it a capture one; the queue does the rest.
 */
static inline struct pktbuf *rq_answer(struct rq_entry *e)     /* RQ_OWN: where its answer goes */
{
	return &e->own;
}

/* Its answer of our own is complete (rq_answer): it may go. */
static inline void rq_ready(struct rq_entry *e)
{
	e->ready = true;
}

/* The same, when the answer was built whole (no allocation failed); false
 * otherwise, the entry not ready. */
static inline bool rq_ready_if_whole(struct rq_entry *e)
{
	e->ready = pkt_ok(&e->own);
	return e->ready;
}

/* Its ErrorResponse, ParameterDescription and CommandComplete are shown to
 * the session first (isess_captured); owner says whose. */
static inline void rq_capture(struct rq_entry *e, void *owner)
{
	e->capture = true;
	e->owner = owner;
}

static inline void rq_set_owner(struct rq_entry *e, void *owner)
{
	e->owner = owner;
}

/* RQ_SKIP: whether its NoticeResponses reach the client. */
static inline void rq_relay_notices(struct rq_entry *e, bool relay)
{
	e->notices = relay;
}

/* RQ_SKIP: whether its ErrorResponse reaches the client. */
static inline void rq_relay_error(struct rq_entry *e, bool relay)
{
	e->relay_error = relay;
}

/* A COPY given its table's clause: its answer is rewritten (copyin.h); the
 * entry frees it. */
static inline void rq_attach_copy(struct rq_entry *e, struct copyin *copy)
{
	e->copy = copy;
}

void rq_init(struct replyq *q);
/* Frees every entry (the session ends): no callback. */
void rq_clear(struct replyq *q);
/* A new entry at the tail; NULL when out of memory. */
struct rq_entry *rq_push(struct replyq *q, enum rq_kind kind, uint8_t msg);
/* A new entry at the head (a message sent to the backend ahead of all
 * that is queued); NULL when out of memory. */
struct rq_entry *rq_push_first(struct replyq *q, enum rq_kind kind, uint8_t msg);
/* A new entry just before `before` (a message sent to the backend ahead of
 * one already queued); NULL when out of memory. */
struct rq_entry *rq_push_before(struct replyq *q, struct rq_entry *before, enum rq_kind kind,
				uint8_t msg);
/* Bytes of pgbatchd's own that answer no message (a batch's notices), sent
 * when the turn of `before` comes (of the tail, when NULL): a ready RQ_OWN
 * entry. False when out of memory. */
bool rq_inject(struct replyq *q, struct rq_entry *before, const void *bytes, size_t len);
/* Entries of ours from `first` on are about to become ones the backend
 * answers (rq_forward), their messages sent now: the RQ_SKIP entries after
 * `first` (up to the next RQ_FORWARD one), whose messages went to the backend
 * before, move ahead of it, so that the queue keeps the order the backend
 * answers in (the client sees no SKIP entry's answer: nothing it sees moves). */
void rq_hoist_sent(struct replyq *q, struct rq_entry *first);
/* An entry of ours becomes one the backend answers (late in late_mode). */
void rq_forward(struct replyq *q, struct rq_entry *e);
/* True when frontend message `type` is owed an answer (gets an entry). */
bool rq_answered(uint8_t type);

/* What becomes of a backend message that starts now. */
enum rq_verdict {
	RQV_RELAY = 0,      /* to the client */
	RQV_DROP,           /* swallowed (a SKIP entry's, or a muted one's) */
	RQV_WAIT,           /* the head is an answer of our own: hold the backend */
};
/* Decides for a backend message of type t and moves the queue on when t ends
 * the head entry's answer (the entry is freed: *done_msg gets its frontend
 * message type, 0 when none ended). */
enum rq_verdict rq_backend(struct replyq *q, uint8_t t, uint8_t *done_msg);

/* The entry a backend message of type t would answer now (NULL: none, or it
 * must wait). */
struct rq_entry *rq_target(struct replyq *q, uint8_t t);

/* The head entry is one the backend answers and the client hears as it is,
 * no hook running when its answer ends (not captured, muted, late or a
 * COPY's; nothing skipped waits to be reaped): for backend messages other
 * than ErrorResponse, NoticeResponse, ParameterStatus and
 * NotificationResponse, rq_backend then says RQV_RELAY and calls nothing. */
bool rq_plain_head(const struct replyq *q);
/* The head entry, when it is an answer of our own ready to go (or cancelled);
 * NULL otherwise. The caller sends its bytes unless cancelled, then pops it. */
struct rq_entry *rq_own_head(struct replyq *q);
void rq_pop(struct replyq *q);

/* Our answer to e is an error: what follows it up to its Sync gets no answer
 * (own answers are cancelled, the backend's are muted). */
void rq_own_error(struct replyq *q, struct rq_entry *e);

/* The session's answers are all in (nothing owed). */
bool rq_empty(const struct replyq *q);
/* Whether a message relayed to the backend is still unanswered. */
bool rq_relaying(const struct replyq *q);
/* Whether the backend still owes an answer: to the client's message or to
 * one pgbatchd sent (RQ_SKIP). */
bool rq_backend_owes(const struct replyq *q);
/* Whether it owes one to a message pgbatchd sent. */
bool rq_skip_owed(const struct replyq *q);

/* The entries, oldest first, to read (changed only by the functions above). */
static inline struct rq_entry *rq_first(const struct replyq *q)
{
	return q->head;
}

static inline struct rq_entry *rq_next(const struct rq_entry *e)
{
	return e->next;
}

/* Entries pushed as RQ_FORWARD from now on are late ones (a transaction's
 * staged rows are being written: their answers may replace what follows). */
static inline void rq_set_late_mode(struct replyq *q, bool on)
{
	q->late_mode = on;
}

#endif
