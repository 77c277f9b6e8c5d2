/* Message reader: a bounds-checked cursor over one message, and header framing. */
#ifndef PGBATCHD_PROTOCOL_READER_H
#define PGBATCHD_PROTOCOL_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MUST_USE __attribute__((warn_unused_result))

/* Cursor over a message body. Every get fails (returns false, moves nothing)
 * when the body holds too few bytes. */
struct pktreader {
	const uint8_t *data;
	size_t len;
	size_t pos;
};

void rd_init(struct pktreader *r, const void *data, size_t len);
bool rd_u8(struct pktreader *r, uint8_t *v) MUST_USE;
bool rd_u16(struct pktreader *r, uint16_t *v) MUST_USE;
bool rd_u32(struct pktreader *r, uint32_t *v) MUST_USE;
bool rd_i32(struct pktreader *r, int32_t *v) MUST_USE;
/* A NUL-terminated string inside the body; *s points into the body. */
bool rd_cstring(struct pktreader *r, const char **s, size_t *len) MUST_USE;
bool rd_bytes(struct pktreader *r, size_t n, const uint8_t **p) MUST_USE;
size_t rd_remaining(const struct pktreader *r);
/* True when every byte was consumed: a parsed message must end exactly here. */
bool rd_at_end(const struct pktreader *r);

/* Framing of typed v3 messages: type byte + int32 length (which counts itself). */
#define PKT_HDR_LEN 5
enum pkt_hdr_result { PKT_HDR_NEED_MORE, PKT_HDR_OK, PKT_HDR_BAD };

/* Reads a header from `avail` bytes. body_len is the length minus its own 4 bytes.
 * PKT_HDR_BAD when the declared length is below 4. */
enum pkt_hdr_result pkt_read_header(const uint8_t *buf, size_t avail, uint8_t *type,
				    uint32_t *body_len) MUST_USE;

/* Messages PostgreSQL caps at 10000 bytes (PQ_SMALL_MESSAGE_LIMIT): a larger
 * length means a broken or hostile peer. */
#define PKT_SMALL_LIMIT 10000
/* PostgreSQL refuses any message over 1 GB - 1 (PQ_LARGE_MESSAGE_LIMIT). */
#define PKT_LARGE_LIMIT 0x3fffffffu
bool pkt_frontend_type_known(uint8_t type);

/* The count a CommandComplete tag ends with ("INSERT 0 n", "COPY n"), 0 when none. */
uint64_t pkt_tag_count(const uint8_t *body, uint32_t len);
/* ... of an INSERT or a COPY only. */
uint64_t pkt_tag_inserted(const uint8_t *body, uint32_t len);
bool pkt_frontend_type_small(uint8_t type);

#endif
