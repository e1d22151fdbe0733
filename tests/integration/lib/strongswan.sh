# Helpers to run Debian's strongSwan (charon and swanctl) as an interop peer inside a network
# namespace made with lib/netns.sh. Source lib/netns.sh first, then this file.
#
# The kernel here has no ESP, so charon uses the kernel-libipsec plugin: IKE in charon, ESP in
# userspace through a TUN device (ipsec0) it creates in its namespace. Every instance gets its
# own directory and runs in its own mount namespace with a private /run, so any number can run
# side by side and none touches the host's /etc/strongswan* or /run/charon.*:
#
#   DIR/strongswan.conf   plugins loaded explicitly (no dependence on /etc/strongswan.d),
#                         vici socket DIR/charon.vici, log DIR/charon.log
#   DIR/swanctl.conf      connections and secrets (ss_conn_psk / ss_conn_cert write it)
#   DIR/x509 x509ca private ...   credentials; swanctl reads them through SWANCTL_DIR=DIR
#
#   ss_require              skip the test (exit 0 with SKIP) when strongSwan is not installed
#   ss_init DIR             create DIR with strongswan.conf and the credential tree
#   ss_start NAME DIR       start charon in netns $NS-NAME; waits for its vici socket
#   ss_stop DIR             stop that charon (also done by ns_cleanup through NS_PIDS)
#   ss_swanctl DIR ARGS...  run swanctl against the instance in DIR
#   ss_conn_psk DIR CONN LADDR RADDR LID RID LTS RTS IKE ESP PSKHEX [CONN_OPTS] [CHILD_OPTS]
#                           write a PSK connection (and its secret) to DIR/swanctl.conf
#   ss_conn_cert DIR CONN LADDR RADDR LID RID LTS RTS IKE ESP CERT KEY [CONN_OPTS] [CHILD_OPTS]
#                           same with certificates (file names inside DIR/x509, DIR/private)
#   ss_load DIR             (re)load connections, secrets and credentials
#   ss_initiate DIR CHILD [SECONDS]   initiate; returns swanctl's status
#   ss_wait_up DIR CONN [SECONDS]     wait until CONN has an ESTABLISHED IKE SA and an
#                                     INSTALLED Child SA
#   ss_sas DIR [CONN]       swanctl --list-sas output (for assertions and failure logs)
#   ss_pki_ca CADIR CN      an ECDSA P-256 CA: CADIR/ca.key, CADIR/ca.pem
#   ss_pki_issue CADIR OUTKEY OUTCERT ID   a P-256 key and a certificate with DN CN=ID and
#                                          subjectAltName ID (a DNS name, i.e. our ID_FQDN)
#   ss_log DIR              charon's log, for failure output
#
# Pitfalls this file handles (learnt the hard way):
#   * charon reads /etc/strongswan.conf unless STRONGSWAN_CONF points elsewhere, and loads
#     plugins from /etc/strongswan.d unless `load` lists them: both are set per instance.
#   * Two charons in one mount namespace fight over /run/charon.pid: each gets a private /run.
#   * swanctl looks for credentials in /etc/swanctl unless SWANCTL_DIR is set.
#   * kernel-libipsec carries ESP over UDP only when UDP encapsulation is negotiated; our edge
#     carries ESP only in UDP, so connections get `encap = yes` (forced NAT-T) by default.
#   * ESN: strongSwan's ESP proposals default to no ESN, ours to ESN; and kernel-libipsec has no
#     ESN at all (the Child SA fails with NO_PROPOSAL_CHOSEN): use -noesn on both sides.

SS_CHARON=${SS_CHARON:-/usr/lib/ipsec/charon}
SS_PLUGINS="random nonce openssl pem pkcs1 pkcs8 x509 pubkey constraints revocation curve25519
	kdf kernel-libipsec kernel-netlink socket-default vici updown"

ss_require() {
	local p
	for p in "$SS_CHARON" /usr/sbin/swanctl /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so; do
		if [ ! -e "$p" ]; then
			echo "SKIP: strongSwan is not installed ($p missing; run deploy/install-deps.sh)"
			exit 0
		fi
	done
}

ss_init() {
	local d=$1 sub
	mkdir -p "$d"
	for sub in x509 x509ca x509aa x509ac x509crl x509ocsp private rsa ecdsa pkcs8 pkcs12 pubkey; do
		mkdir -p "$d/$sub"
	done
	chmod 700 "$d/private"
	cat >"$d/strongswan.conf" <<EOF
charon {
	load = $(echo $SS_PLUGINS)
	install_routes = yes
	# A test must not wait for the defaults (several seconds) on a lost first packet.
	retransmit_timeout = 1.0
	retransmit_tries = 3
	plugins {
		vici {
			socket = unix://$d/charon.vici
		}
	}
	filelog {
		test {
			path = $d/charon.log
			time_format = %T
			default = 1
			ike = 2
			cfg = 2
			esp = 1
			flush_line = yes
		}
	}
}
EOF
	: >"$d/swanctl.conf"
}

ss_start() {
	local name=$1 d=$2 i
	rm -f "$d/charon.vici"
	# unshare -m gives charon its own mount namespace; the tmpfs on /run is seen by it alone.
	ip netns exec "$NS-$name" unshare -m --propagation private sh -c \
		"mount -t tmpfs tmpfs /run && STRONGSWAN_CONF='$d/strongswan.conf' exec '$SS_CHARON'" \
		>"$d/charon.out" 2>&1 &
	echo $! >"$d/charon.pid"
	NS_PIDS="$NS_PIDS $!"
	for i in $(seq 100); do
		[ -S "$d/charon.vici" ] && return 0
		if ! kill -0 "$(cat "$d/charon.pid")" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "charon in $NS-$name did not start:" >&2
	cat "$d/charon.out" >&2
	return 1
}

ss_stop() {
	local d=$1 pid
	[ -f "$d/charon.pid" ] || return 0
	pid=$(cat "$d/charon.pid")
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$d/charon.pid"
	return 0
}

ss_swanctl() {
	local d=$1 cmd=$2
	shift 2
	SWANCTL_DIR=$d swanctl "$cmd" --uri "unix://$d/charon.vici" "$@"
}

# ss__conn DIR CONN LADDR RADDR LID RID LTS RTS IKE ESP LAUTH RAUTH SECRETS CONN_OPTS CHILD_OPTS
ss__conn() {
	local d=$1 conn=$2 la=$3 ra=$4 lid=$5 rid=$6 lts=$7 rts=$8 ike=$9 esp=${10}
	local lauth=${11} rauth=${12} secrets=${13} copts=${14:-} chopts=${15:-}
	cat >"$d/swanctl.conf" <<EOF
connections {
	$conn {
		version = 2
		local_addrs = $la
		remote_addrs = $ra
		encap = yes
		proposals = $ike
		$copts
		local {
			$lauth
			id = $lid
		}
		remote {
			$rauth
			id = $rid
		}
		children {
			$conn {
				local_ts = $lts
				remote_ts = $rts
				esp_proposals = $esp
				$chopts
			}
		}
	}
}
secrets {
	$secrets
}
EOF
}

ss_conn_psk() {
	local d=$1 conn=$2 psk=${11}
	ss__conn "$d" "$conn" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" "auth = psk" "auth = psk" \
		"ike-$conn {
		id-1 = $5
		id-2 = $6
		secret = 0x${psk#0x}
	}" "${12:-}" "${13:-}"
	chmod 600 "$d/swanctl.conf"
}

ss_conn_cert() {
	local d=$1 conn=$2 cert=${11} key=${12}
	ss__conn "$d" "$conn" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" \
		"auth = pubkey
			certs = $cert" "auth = pubkey" "private-$conn {
		file = $key
	}" "${13:-}" "${14:-}"
}

ss_load() {
	ss_swanctl "$1" --load-all --file "$1/swanctl.conf" >"$1/load.out" 2>&1 || {
		cat "$1/load.out" >&2
		return 1
	}
}

ss_initiate() {
	local d=$1 child=$2 secs=${3:-10}
	ss_swanctl "$d" --initiate --child "$child" --timeout "$secs" >"$d/initiate.out" 2>&1
}

ss_sas() {
	local d=$1
	if [ -n "${2:-}" ]; then
		ss_swanctl "$d" --list-sas --ike "$2" 2>&1
	else
		ss_swanctl "$d" --list-sas 2>&1
	fi
}

ss_wait_up() {
	local d=$1 conn=$2 secs=${3:-10} i out
	for i in $(seq $((secs * 10))); do
		out=$(ss_sas "$d" "$conn")
		if grep -q "ESTABLISHED" <<<"$out" && grep -q "INSTALLED" <<<"$out"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

ss_pki_ca() {
	local ca=$1 cn=$2
	mkdir -p "$ca"
	pki --gen --type ecdsa --size 256 --outform pem >"$ca/ca.key"
	chmod 600 "$ca/ca.key"
	pki --self --ca --lifetime 30 --in "$ca/ca.key" --dn "CN=$cn" --outform pem >"$ca/ca.pem"
}

ss_pki_issue() {
	local ca=$1 key=$2 cert=$3 id=$4
	pki --gen --type ecdsa --size 256 --outform pem >"$key"
	chmod 600 "$key"
	pki --pub --in "$key" | pki --issue --lifetime 30 --cacert "$ca/ca.pem" \
		--cakey "$ca/ca.key" --dn "CN=$id" --san "$id" --outform pem >"$cert"
}

ss_log() {
	local d=$1
	echo "--- charon log ($d)"
	cat "$d/charon.log" "$d/charon.out" 2>/dev/null || true
}
