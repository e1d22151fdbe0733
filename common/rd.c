#include "common/rd.h"

#include <string.h>

struct rd rd_init(const uint8_t *buf, size_t len)
{
	struct rd r = {.p = buf, .len = buf ? len : 0, .off = 0};
	return r;
}

size_t rd_left(const struct rd *r)
{
	return r->len - r->off;
}

bool rd_done(const struct rd *r)
{
	return r->off == r->len;
}

/* The one bounds check: written as n > len - off so it cannot overflow. */
static bool fits(const struct rd *r, size_t n)
{
	return n <= r->len - r->off;
}

bool rd_u8(struct rd *r, uint8_t *out)
{
	if (!fits(r, 1))
		return false;
	*out = r->p[r->off++];
	return true;
}

bool rd_u16(struct rd *r, uint16_t *out)
{
	if (!fits(r, 2))
		return false;
	const uint8_t *b = r->p + r->off;
	*out = (uint16_t)((unsigned)b[0] << 8 | b[1]);
	r->off += 2;
	return true;
}

bool rd_u32(struct rd *r, uint32_t *out)
{
	if (!fits(r, 4))
		return false;
	const uint8_t *b = r->p + r->off;
	*out = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	r->off += 4;
	return true;
}

bool rd_u64(struct rd *r, uint64_t *out)
{
	if (!fits(r, 8))
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | r->p[r->off + (size_t)i];
	*out = v;
	r->off += 8;
	return true;
}

bool rd_copy(struct rd *r, void *out, size_t n)
{
	if (!fits(r, n))
		return false;
	if (n)
		memcpy(out, r->p + r->off, n);
	r->off += n;
	return true;
}

bool rd_bytes(struct rd *r, size_t n, const uint8_t **out)
{
	if (!fits(r, n))
		return false;
	*out = r->p + r->off;
	r->off += n;
	return true;
}

bool rd_skip(struct rd *r, size_t n)
{
	if (!fits(r, n))
		return false;
	r->off += n;
	return true;
}

void rd_tail(struct rd *r, const uint8_t **out, size_t *n)
{
	*out = r->p + r->off;
	*n = r->len - r->off;
	r->off = r->len;
}

bool rd_sub(struct rd *r, size_t n, struct rd *sub)
{
	if (!fits(r, n))
		return false;
	*sub = rd_init(r->p + r->off, n);
	r->off += n;
	return true;
}

bool rd_peek_u8(const struct rd *r, uint8_t *out)
{
	if (!fits(r, 1))
		return false;
	*out = r->p[r->off];
	return true;
}
