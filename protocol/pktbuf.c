/* Packet builder: growable buffer, network byte order, sticky error flag. */
#include "protocol/pktbuf.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/reader.h"

void pkt_init(struct pktbuf *pb)
{
	memset(pb, 0, sizeof(*pb));
	pb->msg_start = SIZE_MAX;
}

void pkt_free(struct pktbuf *pb)
{
	free(pb->data);
	pkt_init(pb);
}

void pkt_reset(struct pktbuf *pb)
{
	pb->len = 0;
	pb->msg_start = SIZE_MAX;
	pb->failed = false;
}

bool pkt_ok(const struct pktbuf *pb)
{
	return !pb->failed && pb->msg_start == SIZE_MAX;
}

static bool reserve(struct pktbuf *pb, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (pb->failed)
		return false;
	if (n > PKT_MAX_LEN || pb->len > PKT_MAX_LEN - n) {
		pb->failed = true;
		return false;
	}
	need = pb->len + n;
	if (need <= pb->cap)
		return true;
	cap = pb->cap ? pb->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(pb->data, cap);
	if (p == NULL) {
		pb->failed = true;
		return false;
	}
	pb->data = p;
	pb->cap = cap;
	return true;
}

void pkt_put_bytes(struct pktbuf *pb, const void *p, size_t n)
{
	if (n == 0 || !reserve(pb, n))
		return;
	memcpy(pb->data + pb->len, p, n);
	pb->len += n;
}

void pkt_put_u8(struct pktbuf *pb, uint8_t v)
{
	pkt_put_bytes(pb, &v, 1);
}

void pkt_put_u16(struct pktbuf *pb, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	pkt_put_bytes(pb, b, 2);
}

void pkt_put_u32(struct pktbuf *pb, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	pkt_put_bytes(pb, b, 4);
}

void pkt_put_cstring(struct pktbuf *pb, const char *s)
{
	pkt_put_bytes(pb, s, strlen(s) + 1);
}

void pkt_begin(struct pktbuf *pb, char type)
{
	if (pb->msg_start != SIZE_MAX)
		pb->failed = true;  /* a message is already open */
	if (type != 0)
		pkt_put_u8(pb, (uint8_t)type);
	pb->msg_start = pb->len;
	pkt_put_u32(pb, 0);
}

void pkt_end(struct pktbuf *pb)
{
	size_t n;

	if (pb->msg_start == SIZE_MAX) {
		pb->failed = true;
		return;
	}
	if (!pb->failed) {
		n = pb->len - pb->msg_start;
		pb->data[pb->msg_start] = (uint8_t)(n >> 24);
		pb->data[pb->msg_start + 1] = (uint8_t)(n >> 16);
		pb->data[pb->msg_start + 2] = (uint8_t)(n >> 8);
		pb->data[pb->msg_start + 3] = (uint8_t)n;
	}
	pb->msg_start = SIZE_MAX;
}

void pkt_auth(struct pktbuf *pb, uint32_t code, const void *data, size_t n)
{
	pkt_begin(pb, 'R');
	pkt_put_u32(pb, code);
	pkt_put_bytes(pb, data, n);
	pkt_end(pb);
}

void pkt_auth_sasl_mechs(struct pktbuf *pb, const char *const *mechs)
{
	pkt_begin(pb, 'R');
	pkt_put_u32(pb, 10);
	for (; *mechs; mechs++)
		pkt_put_cstring(pb, *mechs);
	pkt_put_u8(pb, 0);
	pkt_end(pb);
}

void pkt_parameter_status(struct pktbuf *pb, const char *name, const char *value)
{
	pkt_begin(pb, 'S');
	pkt_put_cstring(pb, name);
	pkt_put_cstring(pb, value);
	pkt_end(pb);
}

void pkt_backend_key(struct pktbuf *pb, uint32_t pid, uint32_t key)
{
	pkt_begin(pb, 'K');
	pkt_put_u32(pb, pid);
	pkt_put_u32(pb, key);
	pkt_end(pb);
}

/* A whole message of one type and body, in one reservation (the replies the
 * proxy writes per row). */
static void put_message(struct pktbuf *pb, char type, const void *body, size_t n)
{
	uint8_t *d;

	if (pb->msg_start != SIZE_MAX)
		pb->failed = true;  /* a message is already open */
	if (n > PKT_MAX_LEN - 5 || !reserve(pb, 5 + n))
		return;
	d = pb->data + pb->len;
	d[0] = (uint8_t)type;
	d[1] = (uint8_t)((n + 4) >> 24);
	d[2] = (uint8_t)((n + 4) >> 16);
	d[3] = (uint8_t)((n + 4) >> 8);
	d[4] = (uint8_t)(n + 4);
	memcpy(d + 5, body, n);
	pb->len += 5 + n;
}

void pkt_ready(struct pktbuf *pb, char tx_status)
{
	put_message(pb, 'Z', &tx_status, 1);
}

void pkt_command_complete(struct pktbuf *pb, const char *tag)
{
	put_message(pb, 'C', tag, strlen(tag) + 1);
}

static void put_field(struct pktbuf *pb, char code, const char *value)
{
	if (value == NULL)
		return;
	pkt_put_u8(pb, (uint8_t)code);
	pkt_put_cstring(pb, value);
}

static void error_like(struct pktbuf *pb, char type, const char *severity, const char *sqlstate,
		       const char *message, const char *detail, const char *hint)
{
	pkt_begin(pb, type);
	put_field(pb, 'S', severity);
	put_field(pb, 'V', severity);
	put_field(pb, 'C', sqlstate);
	put_field(pb, 'M', message);
	put_field(pb, 'D', detail);
	put_field(pb, 'H', hint);
	pkt_put_u8(pb, 0);
	pkt_end(pb);
}

void pkt_error(struct pktbuf *pb, const char *severity, const char *sqlstate,
	       const char *message, const char *detail, const char *hint)
{
	error_like(pb, 'E', severity, sqlstate, message, detail, hint);
}

_Static_assert(sizeof(PKT_DIAG_CODES) - 1 == PKT_DIAG_N, "PKT_DIAG_N is the number of field codes");

int pkt_diag_index(char code)
{
	const char *p = code ? strchr(PKT_DIAG_CODES, code) : NULL;

	return p ? (int)(p - PKT_DIAG_CODES) : -1;
}

void pkt_diag(struct pktbuf *pb, char type, const struct pkt_diag *d)
{
	int i;

	pkt_begin(pb, type);
	for (i = 0; i < PKT_DIAG_N; i++)
		put_field(pb, PKT_DIAG_CODES[i], d->f[i]);
	pkt_put_u8(pb, 0);
	pkt_end(pb);
}

void pkt_startup(struct pktbuf *pb, const char *const *params)
{
	pkt_begin(pb, 0);
	pkt_put_u32(pb, 196608);  /* protocol 3.0 */
	for (; params[0] && params[1]; params += 2) {
		pkt_put_cstring(pb, params[0]);
		pkt_put_cstring(pb, params[1]);
	}
	pkt_put_u8(pb, 0);
	pkt_end(pb);
}

void pkt_cancel_request(struct pktbuf *pb, uint32_t pid, uint32_t key)
{
	pkt_begin(pb, 0);
	pkt_put_u32(pb, 80877102);
	pkt_put_u32(pb, pid);
	pkt_put_u32(pb, key);
	pkt_end(pb);
}

void pkt_password(struct pktbuf *pb, const char *password)
{
	pkt_begin(pb, 'p');
	pkt_put_cstring(pb, password);
	pkt_end(pb);
}

void pkt_sasl_initial(struct pktbuf *pb, const char *mech, const void *data, size_t n)
{
	pkt_begin(pb, 'p');
	pkt_put_cstring(pb, mech);
	pkt_put_u32(pb, (uint32_t)n);
	pkt_put_bytes(pb, data, n);
	pkt_end(pb);
}

void pkt_sasl_response(struct pktbuf *pb, const void *data, size_t n)
{
	pkt_begin(pb, 'p');
	pkt_put_bytes(pb, data, n);
	pkt_end(pb);
}

void pkt_query(struct pktbuf *pb, const char *sql)
{
	pkt_begin(pb, 'Q');
	pkt_put_cstring(pb, sql);
	pkt_end(pb);
}

/* Whether a context line is a COPY's ("COPY t, line n ..."). */
static bool copy_line(const char *p, size_t n)
{
	return n >= 5 && memcmp(p, "COPY ", 5) == 0;
}

void pkt_error_relayed(struct pktbuf *pb, const uint8_t *body, uint32_t len)
{
	struct pktreader r;
	const char *v;
	size_t vlen;
	uint8_t code;

	rd_init(&r, body, len);
	pkt_begin(pb, 'E');
	while (rd_u8(&r, &code) && code != 0 && rd_cstring(&r, &v, &vlen)) {
		const char *p = v, *end = v + vlen;
		bool first = true;

		if (code == 'P')
			continue;
		if (code != 'W') {
			pkt_put_u8(pb, code);
			pkt_put_bytes(pb, v, vlen);
			pkt_put_u8(pb, 0);
			continue;
		}
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

			if (!copy_line(p, n)) {
				if (first)
					pkt_put_u8(pb, code);
				else
					pkt_put_u8(pb, '\n');
				pkt_put_bytes(pb, p, n);
				first = false;
			}
			p += n + (nl ? 1 : 0);
		}
		if (!first)
			pkt_put_u8(pb, 0);
	}
	pkt_put_u8(pb, 0);
	pkt_end(pb);
}

void pkt_insert_complete(struct pktbuf *pb, uint64_t rows)
{
	char tag[40] = "INSERT 0 ", digits[24];
	size_t n = 0, len = 9;
	uint8_t *p;

	do {
		digits[n++] = (char)('0' + rows % 10);
		rows /= 10;
	} while (rows);
	while (n)
		tag[len++] = digits[--n];
	tag[len++] = '\0';
	if (pb->msg_start != SIZE_MAX)
		pb->failed = true;      /* (a message is open: as put_message) */
	if (!reserve(pb, 5 + len))
		return;
	p = pb->data + pb->len;         /* (one reserve, one copy: per intercepted row) */
	p[0] = 'C';
	p[1] = 0;
	p[2] = 0;
	p[3] = 0;
	p[4] = (uint8_t)(4 + len);
	memcpy(p + 5, tag, len);
	pb->len += 5 + len;
}
