#!/usr/bin/env bash
# ctest-labels: integration;cli;export
# sdwanctl export containerlab: every example topology's export validates against
# containerlab's own topology schema (vendored with its licence, tests/integration/data/
# containerlab/), without Docker; the shipped topologies/*.clab.yml are up to date; the file
# has the nodes and links the WAN implies. Needs Debian's python3-jsonschema and python3-yaml.
set -euo pipefail
src=${SDWAN_SOURCE_DIR:?}
ctl=${SDWAN_BIN_DIR:?}/sdwanctl
schema=$src/tests/integration/data/containerlab/clab.schema.json
tmp=$(mktemp -d /tmp/sdwan-clab.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
py=/usr/bin/python3
"$py" -c 'import jsonschema, yaml' 2>/dev/null ||
	fail "python3-jsonschema and python3-yaml are required (deploy/install-deps.sh)"

validate() {
	"$py" - "$schema" "$1" <<'PY'
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
doc = yaml.safe_load(open(sys.argv[2]))
errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
for e in errors:
    print("%s: %s: %s" % (sys.argv[2], "/".join(map(str, e.path)), e.message), file=sys.stderr)
sys.exit(1 if errors else 0)
PY
}

# The schema must be able to fail: an unknown node key and a wrong type are refused.
printf 'name: x\ntopology:\n  nodes:\n    a: {kind: linux, colour: blue}\n' >"$tmp/bad.clab.yml"
if validate "$tmp/bad.clab.yml" 2>/dev/null; then fail "schema accepted an unknown key"; fi
passed=$((passed + 1))

for f in "$src"/topologies/*.yaml; do
	case $f in *.clab.yml) continue ;; esac
	base=$(basename "$f" .yaml)
	cp "$f" "$tmp/$base.yaml"
	"$ctl" export containerlab "$tmp/$base.yaml" 2>/dev/null || fail "export $base"
	out=$tmp/$base.clab.yml
	validate "$out" || fail "$base.clab.yml does not match containerlab's schema"
	# Up to date: the shipped file is what the current sdwanctl writes.
	diff -u "$src/topologies/$base.clab.yml" "$out" >&2 ||
		fail "topologies/$base.clab.yml is stale: run sdwanctl export containerlab topologies/$base.yaml"
	# One node per site plus controller and wan router, one LAN host per site with subnets;
	# every site linked to the router; every link endpoint names a node.
	"$ctl" plan --json "$f" >"$tmp/plan.json"
	"$py" - "$out" "$tmp/plan.json" <<'PY' || fail "$base: nodes and links"
import json, sys, yaml
clab = yaml.safe_load(open(sys.argv[1]))
plan = json.load(open(sys.argv[2]))
nodes = clab["topology"]["nodes"]
sites = [s["name"] for s in plan["sites"]]
hosts = [s["name"] + "-host" for s in plan["sites"] if s["subnets"]]
assert set(nodes) == set(sites + hosts + ["controller", "wan"]), sorted(nodes)
ends = [e for l in clab["topology"]["links"] for e in l["endpoints"]]
assert all(e.split(":")[0] in nodes for e in ends), ends
assert sorted(e.split(":")[0] for e in ends if e.startswith("wan:")) == ["wan"] * len(sites)
for s in plan["sites"]:
    n = nodes[s["name"]]
    if s["role"] == "external":
        assert "swanctl --load-all" in n["cmd"], n
    else:
        assert "sdwan-edge --controller" in n["cmd"] and "/run/sdwan-lab/tokens/" + s["name"] in n["cmd"], n
        assert any("token create " + s["name"] + " " in c for c in nodes["controller"]["exec"])
    for u in s["underlay"]:
        if u["address"] != "dynamic":
            assert any(u["address"] in c for c in n["exec"]), (s["name"], u)
# Every command splits as containerlab splits it (shell words), runs a program the image has,
# and every sh -c script parses.
import shlex, subprocess
image_programs = {"sh", "ip", "nft", "mkdir", "sdwan-controller", "sdwanctl"}
for name, n in nodes.items():
    for c in ([n["cmd"]] if "cmd" in n else []) + n.get("exec", []):
        argv = shlex.split(c)
        assert argv[0] in image_programs, (name, c)
        if argv[0] == "sh":
            assert argv[1] == "-c" and len(argv) == 3, (name, c)
            subprocess.run(["sh", "-n", "-c", argv[2]], check=True)
PY
	passed=$((passed + 1))
done
echo "$passed passed, 0 failed"
