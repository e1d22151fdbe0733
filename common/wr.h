/*
 * The fixed-capacity writer every encoder writes through.
 *
 * A writer appends to a caller-owned buffer. Overflow is sticky: once a write does not fit,
 * nothing more is written and wr_ok() stays false, so an encoder writes everything and checks
 * once at the end. Lengths are back-patched with wr_mark()/wr_patch_u16()/wr_patch_u32().
 * Multi-byte integers are written in network byte order. Owns nothing; any thread may use its
 * own writer.
 */
#ifndef SDWAN_COMMON_WR_H
#define SDWAN_COMMON_WR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wr {
	uint8_t *p;
	size_t cap;
	size_t len;
	bool overflow;
};

/* A writer over buf[0..cap). */
struct wr wr_init(uint8_t *buf, size_t cap);

/* False once any write did not fit. */
bool wr_ok(const struct wr *w);

/* Bytes written so far. */
size_t wr_len(const struct wr *w);

void wr_u8(struct wr *w, uint8_t v);
void wr_u16(struct wr *w, uint16_t v);
void wr_u32(struct wr *w, uint32_t v);
void wr_u64(struct wr *w, uint64_t v);
void wr_bytes(struct wr *w, const void *src, size_t n);
void wr_zero(struct wr *w, size_t n);

/* Reserve n bytes and return where they start (NULL on overflow), to be filled in later. */
uint8_t *wr_reserve(struct wr *w, size_t n);

/* The current offset, to back-patch a length field written at this point. */
size_t wr_mark(const struct wr *w);

/* Overwrite a previously written field at offset `at`; no-op (and overflow) if out of range. */
void wr_patch_u16(struct wr *w, size_t at, uint16_t v);
void wr_patch_u32(struct wr *w, size_t at, uint32_t v);

#endif
