# Helpers for integration tests in network namespaces. Source it; every name gets the per-run
# prefix $NS (unique unless set), and ns_cleanup (installed as an EXIT trap by ns_init) removes
# whatever was made, processes included.
#
#   ns_init               pick the prefix, install the trap, require root
#   ns_add NAME           create netns $NS-NAME with lo up
#   ns_link A B IFA IFB   veth pair between netns $NS-A (IFA) and $NS-B (IFB), both up
#   ns_exec NAME CMD...   run a command in netns $NS-NAME
#   ns_bg NAME CMD...     start a command in the background there; its pid is remembered

ns_init() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: needs root for network namespaces"
		exit 0
	fi
	NS=${NS:-sdw$$}
	NS_PIDS=""
	NS_LIST=""
	trap ns_cleanup EXIT
}

ns_add() {
	ip netns add "$NS-$1"
	NS_LIST="$NS_LIST $NS-$1"
	ip -n "$NS-$1" link set lo up
}

ns_link() {
	ip link add "$3" netns "$NS-$1" type veth peer name "$4" netns "$NS-$2"
	ip -n "$NS-$1" link set "$3" up
	ip -n "$NS-$2" link set "$4" up
}

ns_exec() {
	local n=$1
	shift
	ip netns exec "$NS-$n" "$@"
}

ns_bg() {
	local n=$1
	shift
	ip netns exec "$NS-$n" "$@" &
	NS_PIDS="$NS_PIDS $!"
}

ns_cleanup() {
	local p n
	# Runs from an EXIT trap under set -e: nothing here may fail the script.
	for p in $NS_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $NS_PIDS; do wait "$p" 2>/dev/null || true; done
	# Whatever still runs in a namespace (a `ns_exec ... &` remembers the subshell's pid, not
	# its child's) would outlive the namespace's name: stop it first.
	for n in $NS_LIST; do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
	done
	for n in $NS_LIST; do ip netns del "$n" 2>/dev/null || true; done
	return 0
}
