/*
 * IPv4/IPv6 addresses and prefixes: parsing, formatting, containment and ordering.
 *
 * Plain values, no ownership. An IPv4 address occupies bytes[0..4) of the 16-byte array and the
 * rest is zero, so two values of either family compare with memcmp after the family.
 */
#ifndef SDWAN_COMMON_PREFIX_H
#define SDWAN_COMMON_PREFIX_H

#include <stdbool.h>
#include <stdint.h>

enum ip_family {
	IP_V4 = 4,
	IP_V6 = 6,
};

struct ip_addr {
	uint8_t family; /* enum ip_family */
	uint8_t bytes[16];
};

struct prefix {
	struct ip_addr addr;
	uint8_t len;
};

/* Long enough for any formatted address or prefix, with its NUL. */
#define IP_ADDR_STRLEN 46
#define PREFIX_STRLEN  50

/* Parse a dotted-quad IPv4 or an RFC 4291 IPv6 address. Return 0 or -EINVAL. */
int ip_addr_parse(const char *s, struct ip_addr *out) __attribute__((warn_unused_result));

/* Format into buf and return buf. */
char *ip_addr_format(const struct ip_addr *a, char buf[static IP_ADDR_STRLEN]);

/* Number of bits in an address of this family (32 or 128). */
unsigned ip_family_bits(uint8_t family);

/*
 * Parse "ADDRESS/LEN". Returns 0, or -EINVAL if malformed (no "/LEN", bad address, length out of
 * range). *host_bits_set tells whether bits beyond LEN were set; the returned prefix is always
 * masked to its length, so a caller that refuses host bits can suggest the masked form.
 */
int prefix_parse(const char *s, struct prefix *out, bool *host_bits_set)
	__attribute__((warn_unused_result));

/* Format "ADDRESS/LEN" into buf and return buf. */
char *prefix_format(const struct prefix *p, char buf[static PREFIX_STRLEN]);

/* Whether address a lies inside prefix p (false across families). */
bool prefix_contains_addr(const struct prefix *p, const struct ip_addr *a);

/* Whether the two prefixes share at least one address (one contains the other). */
bool prefix_overlaps(const struct prefix *a, const struct prefix *b);

/* Total order: family, then network address, then length (shorter first). */
int prefix_cmp(const struct prefix *a, const struct prefix *b);

/* Order of addresses: family, then bytes. */
int ip_addr_cmp(const struct ip_addr *a, const struct ip_addr *b);

/* Whether an address may identify a host on the underlay: not unspecified, multicast, limited
 * broadcast or loopback. */
bool ip_addr_is_unicast(const struct ip_addr *a);

/* The last address inside p (all host bits set). */
struct ip_addr prefix_last_addr(const struct prefix *p);

#endif
