/*
 * Operator commands handed to edges and not yet answered.
 *
 * A Command goes out on the site's current ZeroMQ session. If that session ends before the
 * edge reads it (the edge reconnects with a new key after rotate-keys, its TCP connection is
 * reset, the process restarts), ZeroMQ drops the message and nobody is told. So the controller
 * keeps every command until the edge's CommandResult names it (Envelope.in_reply_to = the
 * command's msg_id) and sends it again, with the same msg_id, on the site's next session; the
 * edge carries out a msg_id once and answers a repeat with the result it already gave. A command
 * nobody answers within the caller's deadline is dropped with an event.
 *
 * Few commands are ever outstanding (one per operator action), so the queue is a list in the
 * order the commands were given, and lookups walk it.
 *
 * Ownership: the queue owns its entries and their strings; the token of a re-enrollment (a
 * bearer secret) is wiped with OPENSSL_cleanse when its entry goes. Not thread-safe: the
 * controller's loop thread only.
 */
#ifndef SDWAN_CONTROLLER_CMDQ_H
#define SDWAN_CONTROLLER_CMDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/token_line.h"
#include "controller/store.h"

/* Unanswered commands one site may have; one more is refused (the operator waits). */
#define CMDQ_SITE_MAX 8
/* Unanswered commands in all; bounds the memory a burst of operator requests can hold. */
#define CMDQ_TOTAL_MAX 4096

struct cmdq_entry {
	struct cmdq_entry *next;
	char site[STORE_SITE_MAX + 1];
	uint64_t msg_id;            /* the Envelope.msg_id it is sent with, every time */
	int type;                   /* Sdwan__CommandType */
	char *tunnel;               /* "" for none */
	char token[TOKEN_LINE_MAX]; /* "" unless a re-enrollment; secret */
	int64_t given_at_ms;        /* when the operator gave it (wall clock, shown) */
	int64_t given_mono_ms;      /* the same on the monotonic clock (expiry) */
	unsigned sends;             /* times handed to a session */
};

struct cmdq {
	struct cmdq_entry *head;
	struct cmdq_entry *tail;
	size_t n;
};

/* An empty queue (also what a zeroed struct cmdq is). */
void cmdq_init(struct cmdq *q);

/* Wipe and free every entry. */
void cmdq_clear(struct cmdq *q);

/*
 * Append a command for site (tunnel and token may be NULL) given at now_ms (wall clock) and
 * mono_ms (monotonic); *out (may be NULL)
 * points at the new entry, which the queue owns. Returns 0, -EINVAL (site name or token too
 * long, msg_id 0), -EEXIST (msg_id already queued), -ENOSPC (CMDQ_SITE_MAX for the site or
 * CMDQ_TOTAL_MAX in all), -ENOMEM.
 */
int cmdq_add(struct cmdq *q, const char *site, uint64_t msg_id, int type, const char *tunnel,
	     const char *token, int64_t now_ms, int64_t mono_ms, struct cmdq_entry **out)
	__attribute__((warn_unused_result));

/*
 * The edge of site answered msg_id: remove the entry, copying its type to *type (may be NULL).
 * Returns true if there was one; false for a repeat answer or a msg_id of another site.
 */
bool cmdq_answer(struct cmdq *q, const char *site, uint64_t msg_id, int *type);

/* The next entry of site after prev (NULL: the first), in the order given; NULL when none. */
struct cmdq_entry *cmdq_next_for_site(const struct cmdq *q, const char *site,
				      const struct cmdq_entry *prev);

/* Number of unanswered commands of site. */
size_t cmdq_count_site(const struct cmdq *q, const char *site);

/*
 * Remove site's entries of the given type (type < 0: all of them), calling gone(e, arg) (may be
 * NULL) on each before it is wiped. Returns how many went.
 */
size_t cmdq_remove_site(struct cmdq *q, const char *site, int type,
			void (*gone)(const struct cmdq_entry *e, void *arg), void *arg);

/*
 * Remove the entries given before mono_ms - max_age_ms (monotonic clock), calling expired(e, arg)
 * on each before it is wiped. Returns how many went.
 */
size_t cmdq_expire(struct cmdq *q, int64_t mono_ms, int64_t max_age_ms,
		   void (*expired)(const struct cmdq_entry *e, void *arg), void *arg);

#endif
