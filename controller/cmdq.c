#include "controller/cmdq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void cmdq_init(struct cmdq *q)
{
	memset(q, 0, sizeof(*q));
}

static void entry_free(struct cmdq_entry *e)
{
	OPENSSL_cleanse(e->token, sizeof(e->token));
	free(e->tunnel);
	free(e);
}

void cmdq_clear(struct cmdq *q)
{
	struct cmdq_entry *e = q->head;
	while (e) {
		struct cmdq_entry *next = e->next;
		entry_free(e);
		e = next;
	}
	cmdq_init(q);
}

int cmdq_add(struct cmdq *q, const char *site, uint64_t msg_id, int type, const char *tunnel,
	     const char *token, int64_t now_ms, int64_t mono_ms, struct cmdq_entry **out)
{
	if (!site || strlen(site) > STORE_SITE_MAX || msg_id == 0 ||
	    (token && strlen(token) >= TOKEN_LINE_MAX))
		return -EINVAL;
	size_t of_site = 0;
	for (const struct cmdq_entry *e = q->head; e; e = e->next) {
		if (e->msg_id == msg_id)
			return -EEXIST;
		of_site += strcmp(e->site, site) == 0;
	}
	if (of_site >= CMDQ_SITE_MAX || q->n >= CMDQ_TOTAL_MAX)
		return -ENOSPC;
	struct cmdq_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->tunnel = strdup(tunnel ? tunnel : "");
	if (!e->tunnel) {
		free(e);
		return -ENOMEM;
	}
	memcpy(e->site, site, strlen(site) + 1);
	if (token)
		memcpy(e->token, token, strlen(token) + 1);
	e->msg_id = msg_id;
	e->type = type;
	e->given_at_ms = now_ms;
	e->given_mono_ms = mono_ms;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->n++;
	if (out)
		*out = e;
	return 0;
}

/* Unlink *link (an entry) from q and return it; prev is the entry before it (NULL: head). */
static struct cmdq_entry *unlink_at(struct cmdq *q, struct cmdq_entry **link,
				    struct cmdq_entry *prev)
{
	struct cmdq_entry *e = *link;
	*link = e->next;
	if (q->tail == e)
		q->tail = prev;
	q->n--;
	return e;
}

/* Remove every entry drop() selects, calling gone() on it first. */
static size_t remove_if(struct cmdq *q, bool (*drop)(const struct cmdq_entry *e, const void *ctx),
			const void *ctx, void (*gone)(const struct cmdq_entry *e, void *arg),
			void *arg)
{
	size_t removed = 0;
	struct cmdq_entry *prev = NULL;
	struct cmdq_entry **link = &q->head;
	while (*link) {
		if (!drop(*link, ctx)) {
			prev = *link;
			link = &(*link)->next;
			continue;
		}
		struct cmdq_entry *e = unlink_at(q, link, prev);
		if (gone)
			gone(e, arg);
		entry_free(e);
		removed++;
	}
	return removed;
}

struct match {
	const char *site;
	uint64_t msg_id;
	int type;
	int64_t before_ms;
};

static bool answered(const struct cmdq_entry *e, const void *ctx)
{
	const struct match *m = ctx;
	return e->msg_id == m->msg_id && strcmp(e->site, m->site) == 0;
}

static void note_type(const struct cmdq_entry *e, void *arg)
{
	*(int *)arg = e->type;
}

bool cmdq_answer(struct cmdq *q, const char *site, uint64_t msg_id, int *type)
{
	const struct match m = {.site = site, .msg_id = msg_id};
	int t = 0;
	if (msg_id == 0 || remove_if(q, answered, &m, note_type, &t) == 0)
		return false;
	if (type)
		*type = t;
	return true;
}

struct cmdq_entry *cmdq_next_for_site(const struct cmdq *q, const char *site,
				      const struct cmdq_entry *prev)
{
	struct cmdq_entry *e = prev ? prev->next : q->head;
	while (e && strcmp(e->site, site) != 0)
		e = e->next;
	return e;
}

size_t cmdq_count_site(const struct cmdq *q, const char *site)
{
	size_t n = 0;
	for (const struct cmdq_entry *e = cmdq_next_for_site(q, site, NULL); e;
	     e = cmdq_next_for_site(q, site, e))
		n++;
	return n;
}

static bool of_site(const struct cmdq_entry *e, const void *ctx)
{
	const struct match *m = ctx;
	return strcmp(e->site, m->site) == 0 && (m->type < 0 || e->type == m->type);
}

size_t cmdq_remove_site(struct cmdq *q, const char *site, int type,
			void (*gone)(const struct cmdq_entry *e, void *arg), void *arg)
{
	const struct match m = {.site = site, .type = type};
	return remove_if(q, of_site, &m, gone, arg);
}

static bool too_old(const struct cmdq_entry *e, const void *ctx)
{
	const struct match *m = ctx;
	return e->given_mono_ms < m->before_ms;
}

size_t cmdq_expire(struct cmdq *q, int64_t mono_ms, int64_t max_age_ms,
		   void (*expired)(const struct cmdq_entry *e, void *arg), void *arg)
{
	const struct match m = {.before_ms = mono_ms - max_age_ms};
	return remove_if(q, too_old, &m, expired, arg);
}
