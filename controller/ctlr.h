/*
 * sdwan-controller's core: one libuv loop holding the ZeroMQ sockets, the store, the CA, the
 * current plan and every site's session.
 *
 *   control ROUTER   CURVE server, ZAP domain "edges": only enrolled, unrevoked keys of sites in
 *                    the current topology get in, with User-Id = site. A site is the User-Id of
 *                    the connection a message came from, never a name inside a message.
 *   enroll ROUTER    CURVE server, ZAP domain "enroll" (any key): EnrollRequest only, whose
 *                    curve_public_key must be the key that authenticated; rate-limited per source
 *                    address; token redeemed, certificate issued for the token's site and the
 *                    edge recorded in one transaction.
 *   admin socket     Unix stream, 0600, peer credentials checked (controller/admin.h,
 *                    proto/admin.proto): sdwanctl's online commands.
 *   topology watch   uv_fs_event on the file's directory, debounced: a valid change gives new
 *                    generations to the affected sites only; an invalid one is logged in full and
 *                    the last good plan stays.
 *
 * Writes go through one group commit per loop iteration: handlers join an open transaction, and
 * every reply that reports a write (enrollment, config) is sent only after that transaction is
 * on disk. State therefore survives kill -9 at any moment, and 10,000 enrollments cost far fewer
 * fsyncs than 10,000.
 *
 * Closing a session: ZeroMQ has no per-peer disconnect on a ROUTER. The controller records the
 * file descriptor each site's messages arrive on (zmq_msg_get ZMQ_SRCFD) and the peer address of
 * that descriptor; to drop a site it checks that the descriptor still has that peer (so a reused
 * descriptor number is never hit) and shuts the TCP connection down, which ends ZeroMQ's session;
 * ZAP refuses the reconnection. The socket monitor's DISCONNECTED events mark sessions gone.
 *
 * Lifetime: ctlr_new builds everything and starts serving; ctlr_close stops, and calls its
 * callback from the loop once every handle is closed; the struct is freed there. Loop thread
 * only. No global state.
 */
#ifndef SDWAN_CONTROLLER_CTLR_H
#define SDWAN_CONTROLLER_CTLR_H

#include <stdint.h>
#include <uv.h>

#include "common/x509id.h"

struct ctlr;

#define CTLR_COMMAND_TIMEOUT_DEFAULT_MS 60000u

struct ctlr_options {
	const char *topology_path;        /* required */
	const char *state_dir;            /* required; created 0700 */
	const char *listen;               /* control bind endpoint; NULL: the topology's endpoint */
	const char *enroll_listen;        /* NULL: the topology's enroll endpoint, or port + 1 */
	const char *admin_path;           /* NULL: <state_dir>/admin.sock */
	enum x509id_key_type ca_key_type; /* for a new CA; 0 is ECDSA P-256 */
	uint64_t cert_lifetime_s;         /* site certificates; 0: the CA module's default */
	uint32_t health_interval_ms;      /* pushed to edges; 0: 2000 */
	double enroll_rate;               /* enrollment attempts per second per source; 0: 5 */
	uint32_t enroll_burst;            /* bucket size; 0: 20 */
	uint32_t push_window;             /* configs in flight at once; 0: 512 */
	uint32_t command_timeout_ms; /* how long an operator command waits for its edge's answer
					across sessions; 0: CTLR_COMMAND_TIMEOUT_DEFAULT_MS */
};

/* Called once the controller is closed; its memory is gone then. */
typedef void ctlr_close_cb(void *arg);

/*
 * Open the state (store, CA, controller key: created on first start), load the topology, bind
 * the sockets and start serving on loop. On success *out is owned by the caller (ctlr_close).
 * Returns 0 or -errno (logged with the step). On error nothing is left registered on the loop
 * except handles already closing: run the loop to let them finish.
 */
int ctlr_new(uv_loop_t *loop, const struct ctlr_options *opts, struct ctlr **out)
	__attribute__((warn_unused_result));

/* Stop serving, commit pending writes, close every handle and socket; cb(arg) runs from the loop
 * when done. Loop thread. */
void ctlr_close(struct ctlr *c, ctlr_close_cb *cb, void *arg);

#endif
