/*
 * A containerlab topology (*.clab.yml) of a WAN: the same sites, subnets and underlay addresses
 * as the plan, as Linux containers on one host (docs/export.md):
 *
 *   controller      sdwan-controller with the topology bound in; after it starts, an exec
 *                   makes one enrollment token per edge (sdwanctl token create) and exports
 *                   each external site's strongSwan configuration into the lab's shared folder
 *   wan             a router standing in for the Internet: one point-to-point link per site,
 *                   each site's underlay address routed to it; dynamic sites behind a NAT
 *   <site>          our edges: sdwan-edge, started once its token appears; external sites:
 *                   charon loading the exported swanctl.conf
 *   <site>-host     one LAN host per site with subnets, default route via its site
 *
 * Control traffic uses containerlab's management network (the controller is reached by its
 * container name); tunnels use the underlay links. A pure renderer; control path only.
 */
#ifndef SDWAN_CONTROLLER_EXPORT_CLAB_H
#define SDWAN_CONTROLLER_EXPORT_CLAB_H

#include <stddef.h>
#include <stdio.h>

#include "controller/plan.h"

/* Default image: deploy/docker/Dockerfile builds it. */
#define EXPORT_CLAB_IMAGE "sdwan:latest"

struct export_clab_options {
	const char *image;         /* container image of every node; NULL: EXPORT_CLAB_IMAGE */
	const char *topology_file; /* the topology's path as seen from the .clab.yml's folder */
};

/*
 * Write the containerlab topology of plan p to out. Returns 0; -EINVAL when the WAN cannot be
 * laid out (more than 250 sites, a controller endpoint without a port; reason in err, err_len
 * bytes); -EIO when writing failed.
 */
int export_clab_write(const struct plan *p, const struct export_clab_options *o, FILE *out,
		      char *err, size_t err_len) __attribute__((warn_unused_result));

#endif
