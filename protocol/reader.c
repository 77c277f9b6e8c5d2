/* Message reader: bounds-checked gets over a body, header framing, type tables. */
#include "protocol/reader.h"

#include <string.h>

void rd_init(struct pktreader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->pos = 0;
}

size_t rd_remaining(const struct pktreader *r)
{
	return r->len - r->pos;
}

bool rd_at_end(const struct pktreader *r)
{
	return r->pos == r->len;
}

bool rd_bytes(struct pktreader *r, size_t n, const uint8_t **p)
{
	if (rd_remaining(r) < n)
		return false;
	*p = r->data + r->pos;
	r->pos += n;
	return true;
}

bool rd_u8(struct pktreader *r, uint8_t *v)
{
	const uint8_t *p;

	if (!rd_bytes(r, 1, &p))
		return false;
	*v = p[0];
	return true;
}

bool rd_u16(struct pktreader *r, uint16_t *v)
{
	const uint8_t *p;

	if (!rd_bytes(r, 2, &p))
		return false;
	*v = (uint16_t)((p[0] << 8) | p[1]);
	return true;
}

bool rd_u32(struct pktreader *r, uint32_t *v)
{
	const uint8_t *p;

	if (!rd_bytes(r, 4, &p))
		return false;
	*v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	return true;
}

bool rd_i32(struct pktreader *r, int32_t *v)
{
	uint32_t u;

	if (!rd_u32(r, &u))
		return false;
	memcpy(v, &u, sizeof(*v));
	return true;
}

bool rd_cstring(struct pktreader *r, const char **s, size_t *len)
{
	const uint8_t *start = r->data + r->pos;
	const uint8_t *nul = memchr(start, 0, rd_remaining(r));

	if (nul == NULL)
		return false;
	*s = (const char *)start;
	if (len)
		*len = (size_t)(nul - start);
	r->pos += (size_t)(nul - start) + 1;
	return true;
}

enum pkt_hdr_result pkt_read_header(const uint8_t *buf, size_t avail, uint8_t *type,
				    uint32_t *body_len)
{
	uint32_t n;

	if (avail < PKT_HDR_LEN)
		return PKT_HDR_NEED_MORE;
	n = ((uint32_t)buf[1] << 24) | ((uint32_t)buf[2] << 16) | ((uint32_t)buf[3] << 8) | buf[4];
	if (n < 4 || n > 0x7fffffff)
		return PKT_HDR_BAD;
	*type = buf[0];
	*body_len = n - 4;
	return PKT_HDR_OK;
}

bool pkt_frontend_type_known(uint8_t type)
{
	return type != 0 && strchr("QPBEDCSHFXdcf", type) != NULL;
}

bool pkt_frontend_type_small(uint8_t type)
{
	return type != 0 && strchr("SHEDCXcf", type) != NULL;
}

uint64_t pkt_tag_count(const uint8_t *body, uint32_t len)
{
	uint64_t n = 0;
	uint32_t i = len;

	while (i > 0 && body[i - 1] == '\0')
		i--;
	while (i > 0 && body[i - 1] >= '0' && body[i - 1] <= '9')
		i--;
	for (; i < len && body[i] >= '0' && body[i] <= '9'; i++)
		n = n * 10 + (uint64_t)(body[i] - '0');
	return n;
}

uint64_t pkt_tag_inserted(const uint8_t *body, uint32_t len)
{
	if (len == 0 || body[len - 1] != '\0' ||
	    (strncmp((const char *)body, "INSERT ", 7) != 0 && strncmp((const char *)body, "COPY ", 5) != 0))
		return 0;
	return pkt_tag_count(body, len);
}
