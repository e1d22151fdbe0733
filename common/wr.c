#include "common/wr.h"

#include <string.h>

struct wr wr_init(uint8_t *buf, size_t cap)
{
	struct wr w = {.p = buf, .cap = buf ? cap : 0, .len = 0, .overflow = false};
	return w;
}

bool wr_ok(const struct wr *w)
{
	return !w->overflow;
}

size_t wr_len(const struct wr *w)
{
	return w->len;
}

uint8_t *wr_reserve(struct wr *w, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = true;
		return NULL;
	}
	uint8_t *at = w->p + w->len;
	w->len += n;
	return at;
}

void wr_u8(struct wr *w, uint8_t v)
{
	uint8_t *b = wr_reserve(w, 1);
	if (b)
		b[0] = v;
}

void wr_u16(struct wr *w, uint16_t v)
{
	uint8_t *b = wr_reserve(w, 2);
	if (b) {
		b[0] = (uint8_t)(v >> 8);
		b[1] = (uint8_t)v;
	}
}

void wr_u32(struct wr *w, uint32_t v)
{
	uint8_t *b = wr_reserve(w, 4);
	if (b) {
		b[0] = (uint8_t)(v >> 24);
		b[1] = (uint8_t)(v >> 16);
		b[2] = (uint8_t)(v >> 8);
		b[3] = (uint8_t)v;
	}
}

void wr_u64(struct wr *w, uint64_t v)
{
	uint8_t *b = wr_reserve(w, 8);
	if (b)
		for (int i = 0; i < 8; i++)
			b[i] = (uint8_t)(v >> (56 - 8 * i));
}

void wr_bytes(struct wr *w, const void *src, size_t n)
{
	uint8_t *b = wr_reserve(w, n);
	if (b && n)
		memcpy(b, src, n);
}

void wr_zero(struct wr *w, size_t n)
{
	uint8_t *b = wr_reserve(w, n);
	if (b && n)
		memset(b, 0, n);
}

size_t wr_mark(const struct wr *w)
{
	return w->len;
}

void wr_patch_u16(struct wr *w, size_t at, uint16_t v)
{
	if (at > w->len || w->len - at < 2) {
		w->overflow = true;
		return;
	}
	w->p[at] = (uint8_t)(v >> 8);
	w->p[at + 1] = (uint8_t)v;
}

void wr_patch_u32(struct wr *w, size_t at, uint32_t v)
{
	if (at > w->len || w->len - at < 4) {
		w->overflow = true;
		return;
	}
	for (int i = 0; i < 4; i++)
		w->p[at + (size_t)i] = (uint8_t)(v >> (24 - 8 * i));
}
