#include "edge/net/netlink.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"

struct net {
	struct nl_sock *sk;
};

/* libnl reports NLE_* codes; the rest of the project speaks -errno. */
static int to_errno(int nle)
{
	switch (-nle) {
	case NLE_SUCCESS:
		return 0;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_OBJ_NOTFOUND:
	case NLE_NOADDR:
		return -ENOENT;
	case NLE_NODEV:
		return -ENODEV;
	case NLE_PERM:
		return -EPERM;
	case NLE_INVAL:
	case NLE_RANGE:
		return -EINVAL;
	case NLE_BUSY:
		return -EBUSY;
	default:
		return -EIO;
	}
}

static int fail(const char *what, int nle)
{
	LOG_ERR(NET, "netlink request failed", "op=\"%s\" err=\"%s\"", what, nl_geterror(nle));
	return to_errno(nle);
}

int net_open(struct net **out)
{
	*out = NULL;
	struct net *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->sk = nl_socket_alloc();
	if (!n->sk) {
		free(n);
		return -ENOMEM;
	}
	int rc = nl_connect(n->sk, NETLINK_ROUTE);
	if (rc < 0) {
		nl_socket_free(n->sk);
		free(n);
		return fail("connect", rc);
	}
	*out = n;
	return 0;
}

void net_close(struct net *n)
{
	if (!n)
		return;
	nl_socket_free(n->sk);
	free(n);
}

int net_link_index(struct net *n, const char *ifname, int *ifindex)
{
	struct rtnl_link *link = NULL;
	int rc = rtnl_link_get_kernel(n->sk, 0, ifname, &link);
	if (rc < 0)
		return rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV ? -ENODEV : to_errno(rc);
	*ifindex = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	return 0;
}

int net_link_up(struct net *n, int ifindex, unsigned mtu)
{
	struct rtnl_link *orig = NULL, *change = rtnl_link_alloc();
	if (!change)
		return -ENOMEM;
	int rc = rtnl_link_get_kernel(n->sk, ifindex, NULL, &orig);
	if (rc >= 0) {
		rtnl_link_set_mtu(change, mtu);
		rtnl_link_set_flags(change, IFF_UP);
		rc = rtnl_link_change(n->sk, orig, change, 0);
	}
	rtnl_link_put(change);
	rtnl_link_put(orig);
	return rc < 0 ? fail("link up", rc) : 0;
}

static struct nl_addr *to_nl_addr(const struct ip_addr *a, unsigned prefix_len)
{
	int fam = a->family == IP_V4 ? AF_INET : AF_INET6;
	struct nl_addr *na = nl_addr_build(fam, a->bytes, a->family == IP_V4 ? 4 : 16);
	if (na)
		nl_addr_set_prefixlen(na, (int)prefix_len);
	return na;
}

int net_addr_add(struct net *n, int ifindex, const struct ip_addr *addr, unsigned prefix_len)
{
	struct rtnl_addr *ra = rtnl_addr_alloc();
	struct nl_addr *local = to_nl_addr(addr, prefix_len);
	int rc = -NLE_NOMEM;
	if (ra && local) {
		rtnl_addr_set_ifindex(ra, ifindex);
		rc = rtnl_addr_set_local(ra, local);
		if (rc >= 0)
			rc = rtnl_addr_add(n->sk, ra, NLM_F_REPLACE);
	}
	nl_addr_put(local);
	rtnl_addr_put(ra);
	return rc < 0 ? fail("address add", rc) : 0;
}

/* A route object for dst via ifindex with our protocol, in the main table. */
static struct rtnl_route *route_new(int ifindex, const struct prefix *dst)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct nl_addr *d = to_nl_addr(&dst->addr, dst->len);
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	if (!r || !d || !nh || rtnl_route_set_dst(r, d) < 0) {
		rtnl_route_put(r);
		nl_addr_put(d);
		rtnl_route_nh_free(nh);
		return NULL;
	}
	nl_addr_put(d);
	rtnl_route_set_family(r, dst->addr.family == IP_V4 ? AF_INET : AF_INET6);
	rtnl_route_set_table(r, RT_TABLE_MAIN);
	rtnl_route_set_protocol(r, NET_RTPROT_SDWAN);
	rtnl_route_set_scope(r, RT_SCOPE_LINK);
	rtnl_route_set_type(r, RTN_UNICAST);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_add_nexthop(r, nh);
	return r;
}

int net_route_replace(struct net *n, int ifindex, const struct prefix *dst, unsigned mtu)
{
	struct rtnl_route *r = route_new(ifindex, dst);
	if (!r)
		return -ENOMEM;
	int rc = 0;
	if (mtu)
		rc = rtnl_route_set_metric(r, RTAX_MTU, mtu);
	if (rc >= 0)
		rc = rtnl_route_add(n->sk, r, NLM_F_CREATE | NLM_F_REPLACE);
	rtnl_route_put(r);
	return rc < 0 ? fail("route replace", rc) : 0;
}

int net_route_del(struct net *n, int ifindex, const struct prefix *dst)
{
	struct rtnl_route *r = route_new(ifindex, dst);
	if (!r)
		return -ENOMEM;
	int rc = rtnl_route_delete(n->sk, r, 0);
	rtnl_route_put(r);
	if (rc == -NLE_OBJ_NOTFOUND)
		return -ENOENT;
	return rc < 0 ? fail("route delete", rc) : 0;
}

struct walk {
	struct net *n;
	int ifindex;
	bool remove;
	size_t count;
	int err;
};

static bool route_is_ours(const struct rtnl_route *r, int ifindex)
{
	if (rtnl_route_get_protocol((struct rtnl_route *)r) != NET_RTPROT_SDWAN)
		return false;
	if (ifindex == 0)
		return true;
	struct rtnl_nexthop *nh = rtnl_route_nexthop_n((struct rtnl_route *)r, 0);
	return nh && rtnl_route_nh_get_ifindex(nh) == ifindex;
}

static void visit_route(struct nl_object *obj, void *arg)
{
	struct walk *w = arg;
	struct rtnl_route *r = (struct rtnl_route *)obj;
	if (!route_is_ours(r, w->ifindex))
		return;
	w->count++;
	if (!w->remove)
		return;
	int rc = rtnl_route_delete(w->n->sk, r, 0);
	if (rc < 0 && rc != -NLE_OBJ_NOTFOUND && w->err == 0)
		w->err = rc;
}

static int walk_routes(struct net *n, int ifindex, bool remove, size_t *count)
{
	struct nl_cache *cache = NULL;
	/* Flag 0x1 (ROUTE_CACHE_CONTENT) asks for every table, not only main. */
	int rc = rtnl_route_alloc_cache(n->sk, AF_UNSPEC, 0x1, &cache);
	if (rc < 0)
		return fail("route dump", rc);
	struct walk w = {.n = n, .ifindex = ifindex, .remove = remove};
	nl_cache_foreach(cache, visit_route, &w);
	nl_cache_free(cache);
	if (count)
		*count = w.count;
	return w.err < 0 ? fail("route flush", w.err) : 0;
}

int net_routes_flush(struct net *n, int ifindex, size_t *removed)
{
	return walk_routes(n, ifindex, true, removed);
}

int net_routes_count(struct net *n, int ifindex, size_t *count)
{
	return walk_routes(n, ifindex, false, count);
}

int net_tun_remove_stale(struct net *n, const char *ifname)
{
	struct rtnl_link *link = NULL;
	int rc = rtnl_link_get_kernel(n->sk, 0, ifname, &link);
	if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV)
		return 0;
	if (rc < 0)
		return fail("link lookup", rc);
	const char *type = rtnl_link_get_type(link);
	if (!type || strcmp(type, "tun") != 0) {
		rtnl_link_put(link);
		LOG_ERR(NET, "interface name taken by another device", "dev=%s type=%s", ifname,
			type ? type : "?");
		return -EEXIST;
	}
	rc = rtnl_link_delete(n->sk, link);
	rtnl_link_put(link);
	if (rc < 0)
		return fail("stale TUN delete", rc);
	LOG_NOTICE(NET, "removed a TUN device left by an earlier run", "dev=%s", ifname);
	return 0;
}
