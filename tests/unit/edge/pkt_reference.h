/*
 * Shared by the data-plane packet tests: a seeded PRNG, an assertion helper, and an independent
 * reference for Internet checksums (RFC 1071 one 16-bit word at a time, the pseudo-header laid
 * out octet by octet per RFC 768 / RFC 8200 section 8.1), deliberately unlike the optimised code
 * under test so that one cannot hide the other's mistake.
 */
#ifndef SDWAN_TESTS_PKT_REFERENCE_H
#define SDWAN_TESTS_PKT_REFERENCE_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// NOLINTNEXTLINE(readability-function-size): the nesting is inside cr_assert_fail
static inline void require(bool ok, const char *what, long long value)
{
	if (!ok)
		cr_assert_fail("%s (%lld)", what, value);
}

/* xorshift64*: deterministic, seeded by the test. */
struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1du;
}

static inline unsigned rng_below(struct rng *r, unsigned n)
{
	return (unsigned)(rng_next(r) % n);
}

/* RFC 1071, one word at a time, folded: the ones' complement sum of p[0..len) added to sum. */
static inline uint32_t ref_sum(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t s = sum;
	size_t i = 0;
	for (; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < len)
		s += (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

/* The sum of the pseudo-header of the IP packet at ip for a transport of l4_len octets. */
static inline uint32_t ref_pseudo(const uint8_t *ip, uint8_t proto, size_t l4_len)
{
	uint8_t ph[40] = {0};
	if ((ip[0] >> 4) == 4) {
		memcpy(ph, ip + 12, 8);
		ph[9] = proto;
		ph[10] = (uint8_t)(l4_len >> 8);
		ph[11] = (uint8_t)l4_len;
		return ref_sum(0, ph, 12);
	}
	memcpy(ph, ip + 8, 32);
	ph[34] = (uint8_t)(l4_len >> 8);
	ph[35] = (uint8_t)l4_len;
	ph[39] = proto;
	return ref_sum(0, ph, 40);
}

#endif
