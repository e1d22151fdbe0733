# Shared by the control-channel tests: a real sdwan-controller in a private network namespace
# ("c", loopback only), sdwanctl against its admin socket, and tests/tools/ctl_client as edges.
#
#   . "$src/tests/integration/lib/control.sh"   # with src and bin set
#   ctl_test_init NAME      # namespace, temp dir $tmp (kept with KEEP=1), cleanup on exit
#   ctl_start [ARGS...]     # controller on $tmp/wan.yaml and $tmp/st, log $tmp/ctl.log; its
#                           # pid in CTL_PID (ip netns exec and env exec it: kill -9 reaches
#                           # it); $CTL_ENV: extra environment for it alone
#   ctl ARGS / cli MODE ARGS / token SITE [ARGS]   sdwanctl, ctl_client, a new token
#   cli_bg OUT MODE ARGS    # ctl_client in the background, its own pid in CLI_PID
#   fail MSG (with the controller log's tail), ok MSG (numbered)
. "$src/tests/integration/lib/netns.sh"
client=$bin/../tests/ctl_client
EP=tcp://127.0.0.1:7800
passed=0
CTL_PID=

ctl_test_cleanup() {
	ns_cleanup
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}

ctl_test_init() {
	ns_init
	tmp=$(mktemp -d "/tmp/$1.XXXXXX")
	ADMIN=$tmp/st/admin.sock
	trap ctl_test_cleanup EXIT
	ns_add c
}

fail() {
	echo "FAIL: $*" >&2
	echo "--- controller log (tail)" >&2
	tail -40 "$tmp/ctl.log" >&2 || true
	exit 1
}

ok() {
	passed=$((passed + 1))
	echo "ok $passed - $*"
}

ctl_start() {
	# CTL_ENV: NAME=VALUE words for the controller's environment only (env execs it).
	# shellcheck disable=SC2086
	ip netns exec "$NS-c" env ${CTL_ENV:-} "$bin/sdwan-controller" --topology "$tmp/wan.yaml" \
		--state "$tmp/st" --listen "$EP" --log-level info "$@" >>"$tmp/ctl.log" 2>&1 &
	CTL_PID=$!
	NS_PIDS="$NS_PIDS $CTL_PID"
	for _ in $(seq 50); do
		[ -S "$ADMIN" ] && return 0
		sleep 0.1
	done
	fail "controller did not start"
}

ctl() { ns_exec c "$bin/sdwanctl" --admin "$ADMIN" "$@"; }
cli() { ns_exec c "$client" "$@" --endpoint "$EP"; }
# cli_bg OUT ARGS...: a client in the background, output to OUT; CLI_PID is the client itself
# (not a subshell), so that `kill "$CLI_PID"` ends its session.
cli_bg() {
	ip netns exec "$NS-c" "$client" "${@:2}" --endpoint "$EP" >"$1" 2>&1 &
	CLI_PID=$!
	NS_PIDS="$NS_PIDS $CLI_PID"
}
token() { ctl token create "$1" --json "${@:2}" | jq -r .token; }
