/*
 * The tunnel manager behind the managed mode's engine interface (edge/managed.h): fills a struct
 * managed_engine whose callbacks create, drive and stop a struct tmgr.
 *
 * Ownership: the caller owns the struct tmgr_managed and keeps it alive until the engine's stop
 * callback has called its done function. Loop thread only.
 */
#ifndef SDWAN_EDGE_TMGR_MANAGED_H
#define SDWAN_EDGE_TMGR_MANAGED_H

#include "edge/managed.h"
#include "edge/tmgr.h"

struct tmgr_managed {
	struct tmgr_options opts; /* local settings (TUN name, ports); filled by the caller */
	struct tmgr *tm;          /* set between start and stop */
	void (*done)(void *arg);
	void *done_arg;
};

/* Point *engine at the tunnel manager, with m as its context. */
void tmgr_managed_engine(struct tmgr_managed *m, struct managed_engine *engine);

#endif
