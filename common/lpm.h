/*
 * Longest-prefix match of the route-based data plane: IPv4 and IPv6 prefixes to a uint32_t value
 * (a tunnel index), in one table.
 *
 * Three objects, one per role:
 *
 *   struct lpm_builder   the mutable route set. Control thread only: lpm_insert, lpm_remove,
 *                        then lpm_build compiles it into a new frozen table. The builder stays
 *                        usable, so each change is "edit the builder, build, publish".
 *   struct lpm           a frozen table. Never modified after lpm_build returns it, so any
 *                        number of threads may look up in it at once with no lock; lookups
 *                        neither allocate nor write to shared memory.
 *   struct lpm_slot      where the data plane finds the current table: an atomic pointer.
 *                        The control thread publishes a new table with lpm_publish (release)
 *                        and gets the old one back; workers read it with lpm_current (acquire).
 *
 * Reclamation is the caller's: the table lpm_publish returns may still be in use by a worker
 * that loaded it just before the swap. Free it (lpm_free) only after a grace period in which
 * every worker has passed a quiescent point (e.g. finished its current packet batch and
 * bumped its epoch counter). A worker must not keep a table pointer across its quiescent point.
 *
 * Structure of a frozen table (per family): a direct-indexed array over the first D bits of the
 * address (D = 0, 8 or 16, chosen from the number of routes so small tables stay small), then a
 * multibit trie with 6-bit strides whose nodes are compressed with two 64-bit bitmaps in the
 * manner of Poptrie (Asai and Ohara, SIGCOMM 2015): one bitmap says which of the 64 slots are
 * inner nodes, the other where a run of equal leaf values starts; a population count of the
 * bits below the slot indexes into the node's contiguous children or leaves. Leaves are pushed
 * to the bottom and equal neighbours merged at build time, so a lookup is one array read plus
 * one 24-byte node per further 6 bits of the matched prefix, with no backtracking: in a large
 * table (D = 16) an IPv4 lookup reads at most 3 nodes, an IPv6 one at most 19. Chosen over DIR-24-8
 * because that needs 32+ MiB per table (and per rebuild) for IPv4 and does not extend to IPv6;
 * chosen over a path-compressed binary trie because that reads a node per branching bit and must
 * backtrack. The price is that every change rebuilds the table: O(n log n) for n routes, about
 * 35 ms (IPv4) and 80 ms (IPv6) for 100k routes on one core, which the control plane can afford;
 * the builder's route set is a hash table, so the edits themselves are O(1).
 *
 * Anti-spoofing: a decrypted packet's inner source must lie in a prefix its tunnel may carry.
 * lpm_match() asks "is the longest match for A the value V": with the routing table itself
 * (WireGuard-style allowed IPs) when each prefix belongs to one tunnel, or with a per-tunnel
 * table when prefixes are shared (a spoke with redundant hubs receives every WAN prefix from
 * each). A per-tunnel table may also subtract: every WAN prefix mapped to an "allow" value and
 * this site's own prefixes to a "deny" value give "every WAN prefix except ours", the sources a
 * transit hub may send us (Tunnel.remote_transit in proto/control.proto).
 * lpm_contains() is the plain set test (any match at all).
 */
#ifndef SDWAN_COMMON_LPM_H
#define SDWAN_COMMON_LPM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/prefix.h"

/* The value lookups return for "no route". It cannot be inserted. */
#define LPM_NO_ROUTE UINT32_MAX

struct lpm_builder;
struct lpm;

/* The published table. Initialise with lpm_slot_init before any reader starts. The slot does
 * not own the table it points at: whoever publishes owns it until it is swapped out again. */
struct lpm_slot {
	_Atomic(struct lpm *) cur;
};

/* A new, empty builder owned by the caller (lpm_builder_free), or NULL when out of memory.
 * Control thread. */
struct lpm_builder *lpm_builder_new(void) __attribute__((warn_unused_result));

/* Free a builder and its routes. Tables built from it are independent and stay valid.
 * NULL-safe. Control thread. */
void lpm_builder_free(struct lpm_builder *b);

/*
 * Map prefix p to value, replacing the value of an equal prefix already present. Host bits past
 * p->len are ignored (the prefix is stored masked). Returns 0, -EINVAL if p is not a valid IPv4
 * or IPv6 prefix or value is LPM_NO_ROUTE, or -ENOMEM. Control thread.
 */
int lpm_insert(struct lpm_builder *b, const struct prefix *p, uint32_t value)
	__attribute__((warn_unused_result));

/* Remove prefix p (host bits ignored). Returns 0, -ENOENT if it was not present, or -EINVAL if
 * p is not a valid prefix. Control thread. */
int lpm_remove(struct lpm_builder *b, const struct prefix *p) __attribute__((warn_unused_result));

/* Number of prefixes in the builder. Control thread. */
size_t lpm_builder_count(const struct lpm_builder *b);

/*
 * Compile the builder's current routes into a new frozen table, stored in *out and owned by the
 * caller (lpm_free, or hand it to lpm_publish). The builder is not changed. Returns 0 or
 * -ENOMEM (*out is then NULL). Control thread.
 */
int lpm_build(const struct lpm_builder *b, struct lpm **out) __attribute__((warn_unused_result));

/* Free a frozen table. NULL-safe. Only once no reader can still hold it (see above). */
void lpm_free(struct lpm *t);

/*
 * Longest-prefix match of a raw IPv4 address (network byte order): the value of the longest
 * prefix containing it, or LPM_NO_ROUTE. t NULL is an empty table. Any thread; no allocation,
 * no lock.
 */
uint32_t lpm_lookup_v4(const struct lpm *t, const uint8_t addr[static 4]);

/* As lpm_lookup_v4 for a raw IPv6 address (16 bytes, network byte order). Any thread. */
uint32_t lpm_lookup_v6(const struct lpm *t, const uint8_t addr[static 16]);

/* Longest-prefix match of an address of either family: true and *value set if some prefix
 * contains a, false otherwise (and for a family other than IP_V4/IP_V6). Any thread. */
bool lpm_lookup(const struct lpm *t, const struct ip_addr *a, uint32_t *value);

/* Whether some prefix of t contains a (set membership, whatever the value). Any thread. */
bool lpm_contains(const struct lpm *t, const struct ip_addr *a);

/* Whether the longest match for a exists and has this value: the anti-spoofing test of a
 * decrypted packet's inner source against its tunnel. Any thread. */
bool lpm_match(const struct lpm *t, const struct ip_addr *a, uint32_t value);

/* Number of prefixes in a frozen table (0 for NULL). Any thread. */
size_t lpm_count(const struct lpm *t);

/* Bytes of memory a frozen table occupies (0 for NULL), for reports. Any thread. */
size_t lpm_memory(const struct lpm *t);

/* Make the slot empty (readers see NULL, which lookups treat as an empty table). Call before
 * any reader can see the slot. */
void lpm_slot_init(struct lpm_slot *s);

/*
 * Publish *next as the slot's table (release order: a reader that sees the new pointer sees the
 * whole table) and take ownership of it (*next is set to NULL). Returns the previous table, owned
 * by the caller again, to be freed after a grace period; NULL if the slot was empty. Control
 * thread only (one writer).
 */
struct lpm *lpm_publish(struct lpm_slot *s, struct lpm **next) __attribute__((warn_unused_result));

/* The slot's current table (acquire order), or NULL. Data-plane workers; valid until the
 * caller's next quiescent point. */
const struct lpm *lpm_current(struct lpm_slot *s);

#endif
