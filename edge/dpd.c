/*
 * Dead peer detection decisions; see dpd.h for the rules. Deadlines are computed from the last
 * proof of life, so a busy tunnel costs nothing per packet: the caller samples the data plane's
 * last_rx_ms only when a deadline comes.
 */
#include "edge/dpd.h"

void dpd_start(struct dpd *d, enum dpd_mode mode, uint32_t interval_ms, uint32_t timeout_ms,
	       uint64_t now_ms)
{
	*d = (struct dpd){
		.mode = mode,
		.interval_ms = interval_ms,
		.timeout_ms = timeout_ms,
		.last_alive_ms = now_ms,
	};
}

void dpd_on_alive(struct dpd *d, uint64_t t_ms)
{
	if (t_ms <= d->last_alive_ms)
		return;
	d->last_alive_ms = t_ms;
	d->tx_at_alive = d->tx_packets;
}

void dpd_on_tx(struct dpd *d, uint64_t tx_packets)
{
	d->tx_packets = tx_packets;
}

void dpd_on_probe(struct dpd *d, uint64_t now_ms)
{
	d->probe_sent_ms = now_ms;
}

/* A probe sent since the last proof of life is waiting for its answer. */
static bool probe_outstanding(const struct dpd *d)
{
	return d->probe_sent_ms != 0 && d->probe_sent_ms >= d->last_alive_ms;
}

static uint64_t probe_due_ms(const struct dpd *d)
{
	if (d->mode == DPD_ON_DEMAND && d->tx_packets <= d->tx_at_alive)
		return UINT64_MAX; /* we sent nothing the peer should have answered */
	uint64_t from = d->last_alive_ms;
	if (probe_outstanding(d))
		from = d->probe_sent_ms; /* one probe per interval while we wait */
	return from + d->interval_ms;
}

static uint64_t dead_at_ms(const struct dpd *d)
{
	if (!probe_outstanding(d))
		return UINT64_MAX; /* never declare death without having asked */
	return d->last_alive_ms + d->timeout_ms;
}

enum dpd_action dpd_poll(struct dpd *d, uint64_t now_ms)
{
	if (d->dead || d->mode == DPD_OFF)
		return DPD_NONE;
	if (now_ms >= dead_at_ms(d)) {
		d->dead = true;
		return DPD_DEAD;
	}
	if (now_ms >= probe_due_ms(d))
		return DPD_PROBE;
	return DPD_NONE;
}

uint64_t dpd_next_ms(const struct dpd *d)
{
	if (d->dead || d->mode == DPD_OFF)
		return UINT64_MAX;
	uint64_t a = dead_at_ms(d), b = probe_due_ms(d);
	return a < b ? a : b;
}
