/*
 * The standalone edge (`sdwan-edge --config FILE`): the EdgeConfig and the local settings come
 * from one YAML file (edge/edge_conf.h, branch edge-cfg) and the tunnel manager (edge/tmgr.h)
 * runs them on a libuv loop of its own.
 *
 *   SIGHUP          re-read the file and apply it: only what changed is touched (tmgr_apply);
 *                   a file with errors is reported and the running configuration stays
 *   SIGINT/SIGTERM  stop: TUN device and routes removed, exit 0
 *
 * Local settings (TUN name, ports, workers) are read at start only. Until edge/edge_conf.h is in
 * the tree, local_mode_run() refuses to start (LOCAL_MODE_AVAILABLE undefined).
 */
#ifndef SDWAN_EDGE_LOCAL_MODE_H
#define SDWAN_EDGE_LOCAL_MODE_H

#if defined(__has_include)
#if __has_include("edge/edge_conf.h")
#define LOCAL_MODE_AVAILABLE 1
#endif
#endif

/* What the command line says; borrowed for the run. */
struct local_mode_args {
	const char *config_path; /* the YAML file */
	const char *keylog_path; /* --keylog, or NULL (the file's local.keylog_path applies) */
};

/* Run until SIGINT/SIGTERM. Returns the process exit status: 0 after a signal, 1 when the file
 * or the system refused, 69 (EX_UNAVAILABLE) in a build without the loader. Main thread only. */
int local_mode_run(const struct local_mode_args *args);

#endif
