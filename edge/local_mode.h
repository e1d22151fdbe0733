/*
 * The standalone edge (`sdwan-edge --config FILE`): the EdgeConfig and the local settings come
 * from one YAML file (edge/edge_conf.h) and the tunnel manager (edge/tmgr.h)
 * runs them on a libuv loop of its own.
 *
 *   SIGHUP          re-read the file and apply it: only what changed is touched (tmgr_apply);
 *                   a file with errors is reported and the running configuration stays
 *   SIGINT/SIGTERM  stop: TUN device and routes removed, exit 0
 *
 * Local settings (TUN name, ports, workers, certificate files, key log) are read at start only.
 */
#ifndef SDWAN_EDGE_LOCAL_MODE_H
#define SDWAN_EDGE_LOCAL_MODE_H

/* What the command line says; borrowed for the run. */
struct local_mode_args {
	const char *config_path; /* the YAML file */
	const char *keylog_path; /* --keylog, or NULL (the file's local.keylog_path applies) */
};

/* Run until SIGINT/SIGTERM. Returns the process exit status: 0 after a signal, 1 when the file
 * or the system refused. Main thread only. */
int local_mode_run(const struct local_mode_args *args);

#endif
