/* Packet builder: v3 messages assembled in a growable buffer with a sticky error flag. */
#ifndef PGBATCHD_PROTOCOL_PKTBUF_H
#define PGBATCHD_PROTOCOL_PKTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every put is a no-op once `failed` is set (allocation failure, or a message
 * longer than PKT_MAX_LEN); callers check pkt_ok() once at the end. */
struct pktbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t msg_start;   /* offset of the open message's length field, or SIZE_MAX */
	bool failed;
};

#define PKT_MAX_LEN ((size_t)0x3fffffff)

void pkt_init(struct pktbuf *pb);
void pkt_free(struct pktbuf *pb);
void pkt_reset(struct pktbuf *pb);
bool pkt_ok(const struct pktbuf *pb) __attribute__((warn_unused_result));

/* Opens a message; type 0 opens an untyped one (startup-family packets). */
void pkt_begin(struct pktbuf *pb, char type);
/* Closes the open message, writing its length. */
void pkt_end(struct pktbuf *pb);

void pkt_put_u8(struct pktbuf *pb, uint8_t v);
void pkt_put_u16(struct pktbuf *pb, uint16_t v);
void pkt_put_u32(struct pktbuf *pb, uint32_t v);
void pkt_put_bytes(struct pktbuf *pb, const void *p, size_t n);
void pkt_put_cstring(struct pktbuf *pb, const char *s);

/* One helper per message the proxy writes itself. */
void pkt_auth(struct pktbuf *pb, uint32_t code, const void *data, size_t n);
void pkt_auth_sasl_mechs(struct pktbuf *pb, const char *const *mechs);
void pkt_parameter_status(struct pktbuf *pb, const char *name, const char *value);
void pkt_backend_key(struct pktbuf *pb, uint32_t pid, uint32_t key);
void pkt_ready(struct pktbuf *pb, char tx_status);
void pkt_command_complete(struct pktbuf *pb, const char *tag);
/* CommandComplete "INSERT 0 <rows>", without printf (the row path's). */
void pkt_insert_complete(struct pktbuf *pb, uint64_t rows);
/* severity: "ERROR", "FATAL", "WARNING", "NOTICE"; detail/hint may be NULL. */
void pkt_error(struct pktbuf *pb, const char *severity, const char *sqlstate,
	       const char *message, const char *detail, const char *hint);

/* The fields of an ErrorResponse or NoticeResponse by their one-letter codes,
 * in the order PostgreSQL writes them: PKT_DIAG_CODES[i] is the code of f[i].
 * NULL: the field is absent. */
#define PKT_DIAG_CODES "SVCMDHPpqWstcdnFLR"
#define PKT_DIAG_N 18
struct pkt_diag {
	const char *f[PKT_DIAG_N];
};
/* The index of a field code in PKT_DIAG_CODES, or -1. */
int pkt_diag_index(char code);
/* An ErrorResponse (type 'E') or NoticeResponse ('N') with every field set in d. */
void pkt_diag(struct pktbuf *pb, char type, const struct pkt_diag *d);
/* A backend's ErrorResponse (its body) as the client's statement's: every
 * field but the position, and the context without the lines a COPY of
 * pgbatchd's adds ("COPY t, line n ..."); a trigger's or a function's
 * context is what the client's own INSERT would have. */
void pkt_error_relayed(struct pktbuf *pb, const uint8_t *body, uint32_t len);

/* Frontend messages the proxy sends to a backend. params: NULL-terminated
 * key, value, key, value, ... list. */
void pkt_startup(struct pktbuf *pb, const char *const *params);
void pkt_cancel_request(struct pktbuf *pb, uint32_t pid, uint32_t key);
void pkt_password(struct pktbuf *pb, const char *password);
void pkt_sasl_initial(struct pktbuf *pb, const char *mech, const void *data, size_t n);
void pkt_sasl_response(struct pktbuf *pb, const void *data, size_t n);
void pkt_query(struct pktbuf *pb, const char *sql);

#endif
