# Helpers for lab tests built on deploy/sdwan-lab (docs/lab.md). Source it, then call lab_init.
#
#   lab_init PREFIX [CMD...]  require root and each CMD (else SKIP), name the lab PREFIX$$, make
#                             $tmp, install the EXIT trap (kills $BG, `down`, removes $tmp)
#   L ARGS...                 sdwan-lab --name $NAME ARGS...
#   fail MSG / ok MSG         report; fail tails the files matching $LAB_FAIL_LOGS
#   now_ms                    wall clock in ms
#   show SITE                 `edge show SITE --json`
#   events / last_id          the controller's events (JSON), the newest event id
#   since ID SITE KIND        SITE's events of KIND after event ID, as a JSON array
#   wait_event SITE KIND ID SECONDS [DETAIL]  until such an event (detail containing DETAIL)

lab_init() {
	local prefix=$1 cmd
	shift
	src=${SDWAN_SOURCE_DIR:?}
	export SDWAN_BIN_DIR=${SDWAN_BIN_DIR:?}
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: needs root for network namespaces"
		exit 0
	fi
	for cmd in "$@"; do
		command -v "$cmd" >/dev/null || {
			echo "SKIP: $cmd is not installed (deploy/install-deps.sh)"
			exit 0
		}
	done
	lab=$src/deploy/sdwan-lab
	NAME=$prefix$$
	export SDWAN_LAB_DIR=${SDWAN_LAB_DIR:-/run/sdwan-lab}
	RUN=$SDWAN_LAB_DIR/$NAME
	tmp=$(mktemp -d "/tmp/sdwan-lab-$prefix.XXXXXX")
	BG=""
	passed=0
	LAB_FAIL_LOGS=${LAB_FAIL_LOGS:-"$RUN/logs/*.log $tmp/*.txt"}
	trap lab_cleanup EXIT
}

lab_cleanup() {
	local p
	for p in $BG; do kill "$p" 2>/dev/null || true; done
	L down >/dev/null 2>&1 || true
	rm -rf "$tmp"
}

L() { "$lab" --name "$NAME" "$@"; }

fail() {
	local f
	echo "FAIL: $*" >&2
	# Unquoted on purpose: the list holds glob patterns (lab paths have no blanks).
	# shellcheck disable=SC2086
	for f in $LAB_FAIL_LOGS; do
		[ -f "$f" ] || continue
		echo "--- $f (tail)"
		tail -12 "$f"
	done >&2
	exit 1
}

ok() {
	passed=$((passed + 1))
	echo "ok $passed - $*"
}

now_ms() { date +%s%3N; }
show() { L ctl edge show "$1" --json; }
events() { L ctl events --json; }
last_id() { events | jq '[.[].id] | max // 0'; }

since() {
	L ctl events --site "$2" --json |
		jq -c --argjson id "$1" --arg k "$3" '[.[] | select(.id > $id and .kind == $k)]'
}

wait_event() {
	local end=$(($(date +%s) + $4))
	while [ "$(date +%s)" -lt "$end" ]; do
		since "$3" "$1" "$2" | jq -e --arg d "${5:-}" 'any(.[]; (.detail // "") | contains($d))' \
			>/dev/null && return 0
		sleep 0.2
	done
	return 1
}
