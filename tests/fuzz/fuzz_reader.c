/* libFuzzer target: the frontend message reader. The input is a client's byte
 * stream after the startup packet: each message is framed (type, length) as
 * the proxy frames it, and the bodies of the messages pgbatchd reads are
 * walked as it reads them (Query, Parse, Bind, Describe, Execute, Close). */
#include <stddef.h>
#include <stdint.h>

#include "protocol/reader.h"

static void body(uint8_t type, const uint8_t *p, size_t len)
{
	struct pktreader r;
	const char *s;
	const uint8_t *b;
	uint16_t n, m;
	int32_t vlen;
	uint32_t u;
	uint8_t c;

	rd_init(&r, p, len);
	switch (type) {
	case 'Q':
		(void)rd_cstring(&r, &s, NULL);
		break;
	case 'P':
		if (!rd_cstring(&r, &s, NULL) || !rd_cstring(&r, &s, NULL) || !rd_u16(&r, &n))
			return;
		for (uint16_t i = 0; i < n; i++)
			if (!rd_u32(&r, &u))
				return;
		break;
	case 'B':
		if (!rd_cstring(&r, &s, NULL) || !rd_cstring(&r, &s, NULL) || !rd_u16(&r, &n))
			return;
		for (uint16_t i = 0; i < n; i++)
			if (!rd_u16(&r, &m))
				return;
		if (!rd_u16(&r, &n))
			return;
		for (uint16_t i = 0; i < n; i++) {
			if (!rd_i32(&r, &vlen))
				return;
			if (vlen > 0 && !rd_bytes(&r, (size_t)vlen, &b))
				return;
		}
		if (!rd_u16(&r, &n))
			return;
		for (uint16_t i = 0; i < n; i++)
			if (!rd_u16(&r, &m))
				return;
		break;
	case 'D':
	case 'C':
		if (rd_u8(&r, &c))
			(void)rd_cstring(&r, &s, NULL);
		break;
	case 'E':
		if (rd_cstring(&r, &s, NULL))
			(void)rd_u32(&r, &u);
		break;
	default:
		break;
	}
	(void)rd_at_end(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t at = 0;

	while (at < size) {
		uint8_t type;
		uint32_t len;

		if (pkt_read_header(data + at, size - at, &type, &len) != PKT_HDR_OK)
			return 0;
		(void)pkt_frontend_type_known(type);
		(void)pkt_frontend_type_small(type);
		if (len > size - at - PKT_HDR_LEN)
			return 0;       /* the proxy waits for the rest (or streams it) */
		body(type, data + at + PKT_HDR_LEN, len);
		at += PKT_HDR_LEN + (size_t)len;
	}
	return 0;
}
