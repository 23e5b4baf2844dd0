#!/usr/bin/env bats
# Monitoring assets (config/monitoring/): the alert rules pass promtool's
# checks and unit tests, each alert has its annotations and a runbook
# section that exists, the dashboard is well-formed and its queries parse,
# every engram_* metric (and flag and cohort) the rules, their tests and the
# dashboard name is in the metrics file of a running daemon, and the
# textfile collector copier works against a real mount.

load helpers

REPO=$(cd "$E2E_DIR/../.." && pwd)
MON=$REPO/config/monitoring
RULES=$MON/engramfs.rules.yml
RULE_TESTS=$MON/engramfs.rules.test.yml
DASH=$MON/grafana-dashboard.json
TEXTFILE=$MON/engramfs-textfile.sh
# Debian's python3; a python3 earlier on PATH may be a slow shim (pyenv).
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

require_promtool() {
	command -v promtool >/dev/null ||
		skip "promtool is missing (Debian package prometheus)"
}

setup() {
	W=$(mktemp -d "$BATS_TEST_TMPDIR/mon.XXXXXX")
}

teardown() {
	[[ -z ${NE_PID:-} ]] || kill "$NE_PID" 2>/dev/null || true
	[[ -z ${LOOP_PID:-} ]] || kill "$LOOP_PID" 2>/dev/null || true
	[[ -z ${M:-} ]] || teardown_mount
}

@test "promtool check rules accepts the alert rules" {
	require_promtool
	run promtool check rules "$RULES"
	[ "$status" -eq 0 ] || e2e_fail "$output"
	[[ $output == *"SUCCESS: "*" rules found"* ]]
}

@test "promtool test rules: every alert fires on its synthetic series and stays quiet otherwise" {
	require_promtool
	run promtool test rules "$RULE_TESTS"
	[ "$status" -eq 0 ] || e2e_fail "$output"
	# Each alert has a case expecting it and a case expecting nothing.
	run "$PYTHON" - "$RULES" "$RULE_TESTS" <<'EOF'
import re, sys
rules = open(sys.argv[1]).read()
tests = open(sys.argv[2]).read()
alerts = re.findall(r"^\s*- alert: (\S+)", rules, re.M)
cases = re.findall(r"- alertname: (\S+)\n\s+eval_time: \S+\n\s+exp_alerts:(.*)", tests)
for a in alerts:
    kinds = {"quiet" if rest.strip() == "[]" else "firing" for name, rest in cases if name == a}
    for k in ("firing", "quiet"):
        if k not in kinds:
            print("%s has no %s test case" % (a, k))
if not alerts:
    print("no alerts found")
EOF
	assert_eq "$output" ""
}

@test "every alert has a severity, summary, description and a runbook_url to a section of docs/runbooks.md" {
	run "$PYTHON" - "$RULES" "$REPO/docs/runbooks.md" <<'EOF'
import re, sys
rules = open(sys.argv[1]).read()
doc = open(sys.argv[2]).read()
# GitHub's heading ids, and explicit <a id="...">
ids = set(re.findall(r'<a id="([^"]+)">', doc))
for h in re.findall(r"^#+ (.+)$", doc, re.M):
    s = re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
    ids.add(s)
blocks = re.split(r"^\s*- alert: ", rules, flags=re.M)[1:]
for b in blocks:
    name = b.split()[0]
    for key in ("severity", "summary", "description", "runbook_url"):
        if not re.search(r"^\s+%s: \S" % key, b, re.M):
            print("%s: no %s" % (name, key))
    m = re.search(r'runbook_url: "?docs/runbooks\.md#([^"\s]+)', b)
    if not m:
        print("%s: runbook_url is not docs/runbooks.md#ANCHOR" % name)
    elif m.group(1) not in ids:
        print("%s: docs/runbooks.md has no section #%s" % (name, m.group(1)))
    elif m.group(1) != name.lower():
        print("%s: the anchor should be #%s" % (name, name.lower()))
if not blocks:
    print("no alerts found")
EOF
	assert_eq "$output" ""
}

@test "the dashboard is valid JSON with unique panel ids, no overlaps, and every query on the chosen data source" {
	run "$PYTHON" - "$DASH" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ids, cells, n = set(), {}, 0
for p in d["panels"]:
    if p["id"] in ids:
        print("panel id %s twice" % p["id"])
    ids.add(p["id"])
    g = p["gridPos"]
    if g["x"] + g["w"] > 24:
        print("panel %r is wider than the grid" % p["title"])
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            if (x, y) in cells:
                print("panels %r and %r overlap" % (cells[(x, y)], p["title"]))
            cells[(x, y)] = p["title"]
    if p["type"] == "row":
        continue
    if not p.get("targets"):
        print("panel %r has no query" % p["title"])
    for t in p.get("targets", []):
        n += 1
        if t.get("datasource", {}).get("uid") != "${datasource}":
            print("panel %r: a query not on ${datasource}" % p["title"])
        if not t.get("expr"):
            print("panel %r: a query without expr" % p["title"])
names = [v["name"] for v in d["templating"]["list"]]
for v in ("datasource", "instance", "store"):
    if v not in names:
        print("no $%s variable" % v)
titles = " ".join(p["title"] for p in d["panels"])
for word in ("Overview", "control", "treatment", "Consolidation", "Flags"):
    if word not in titles:
        print("no panel or row about %s" % word)
if n < 20:
    print("only %d queries" % n)
EOF
	assert_eq "$output" ""
}

@test "every dashboard query and every PromQL block of the docs is valid PromQL" {
	require_promtool
	# As recording rules (promtool parses their expr), with Grafana's
	# variables replaced by what Grafana would send.
	"$PYTHON" - "$DASH" "$REPO/docs/rollout.md" "$W/q.rules.yml" <<'EOF'
import json, re, sys
d = json.load(open(sys.argv[1]))
exprs = []
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "expr" and isinstance(v, str):
                exprs.append(v)
            else:
                walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(d)
for block in re.findall(r"```promql\n(.*?)```", open(sys.argv[2]).read(), re.S):
    cur = ""
    for line in block.splitlines() + [""]:
        if line.startswith("#") or not line.strip():
            if cur.strip():
                exprs.append(cur)
            cur = ""
        else:
            cur += line + "\n"
with open(sys.argv[3], "w") as f:
    f.write("groups:\n  - name: q\n    rules:\n")
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "1m").replace("$instance", ".*").replace("$store", ".*")
        f.write("      - record: q:%d\n        expr: %s\n" % (i, json.dumps(e)))
print(len(exprs))
EOF
	run promtool check rules "$W/q.rules.yml"
	[ "$status" -eq 0 ] || e2e_fail "$output"
}

@test "every engram_* metric, flag and cohort the rules, their tests and the dashboard name is in a running daemon's metrics" {
	setup_mount
	# one recall, so that nothing depends on a recall having happened
	echo "monitoring smoke test" >"$M/episodes/smoke"
	cat "$M/recall/smoke" >/dev/null
	cat "$M/metrics" >"$W/metrics"
	[ -s "$W/metrics" ] || e2e_fail "the metrics file is empty"
	run "$PYTHON" - "$W/metrics" "$RULES" "$RULE_TESTS" "$DASH" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
samples, families, flags, cohorts = set(), set(), set(), set()
for line in text.splitlines():
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        families.add(m.group(1))
        continue
    if not line or line.startswith("#"):
        continue
    name = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0)
    samples.add(name)
    f = re.search(r'flag="([^"]+)"', line)
    if f:
        flags.add(f.group(1))
    c = re.search(r'cohort="([^"]+)"', line)
    if c:
        cohorts.add(c.group(1))
missing = set()
for path in sys.argv[2:]:
    body = open(path).read()
    for name in set(re.findall(r"\bengram_[a-z0-9_]+", body)):
        if name in samples:
            continue
        if re.search(r"_(bucket|sum|count)$", name):
            missing.add("%s (%s)" % (name, path.rsplit("/", 1)[1]))
        elif name not in families:
            missing.add("%s (%s)" % (name, path.rsplit("/", 1)[1]))
    for m in re.findall(r'flag=~?\\?"([^"\\]+)\\?"', body):
        for f in m.split("|"):
            if f not in flags:
                missing.add("flag %s (%s)" % (f, path.rsplit("/", 1)[1]))
    for m in re.findall(r'cohort=~?\\?"([^"\\]+)\\?"', body):
        for c in m.split("|"):
            if c not in cohorts:
                missing.add("cohort %s (%s)" % (c, path.rsplit("/", 1)[1]))
for m in sorted(missing):
    print("not in the metrics file: " + m)
EOF
	assert_eq "$output" ""
}

@test "engramfs-textfile copies the metrics atomically, labelled store=, in a file promtool accepts" {
	setup_mount
	local out=$W/engramfs-t1.prom
	run "$TEXTFILE" "$M" "$out" t1
	[ "$status" -eq 0 ] || e2e_fail "$output"
	assert_eq "$(stat -c %a "$out")" 644
	# every sample carries store="t1" as its first label, nothing else changed
	run awk '!/^#/ && NF && $0 !~ /^[a-z_:]+\{store="t1"[,}]/' "$out"
	assert_eq "$output" "" "samples without the store label"
	assert_eq "$(grep -c '^#' "$out")" "$(grep -c '^#' "$M/metrics")"
	grep -q '^engram_flag_value{store="t1",flag="blended_recall"} 0$' "$out"
	grep -Eq '^engram_uptime_seconds\{store="t1"\} [0-9.]+$' "$out"
	# no temp file left next to it
	assert_eq "$(ls -A "$W" | grep -v '^metrics$' | tr '\n' ' ')" "engramfs-t1.prom "
	if command -v promtool >/dev/null; then
		run promtool check metrics <"$out"
		[ "$status" -eq 0 ] || e2e_fail "promtool check metrics: $output"
	fi
	# no STORE: the file as it is
	run "$TEXTFILE" "$M" "$W/engramfs-plain.prom"
	[ "$status" -eq 0 ]
	grep -Eq '^engram_uptime_seconds [0-9.]+$' "$W/engramfs-plain.prom"
	# usage errors
	run "$TEXTFILE" "$M" "$W/out.txt"
	assert_eq "$status" 2
}

@test "engramfs-textfile leaves the file as it was when the mount is down, and exits 1" {
	setup_mount
	local out=$W/engramfs-t1.prom
	"$TEXTFILE" "$M" "$out" t1
	touch -d '2000-01-01' "$out"
	local before
	before=$(stat -c '%Y %s' "$out")
	stop_daemon
	run "$TEXTFILE" "$M" "$out" t1
	assert_eq "$status" 1
	[[ $output == *"left as it was"* ]]
	assert_eq "$(stat -c '%Y %s' "$out")" "$before"
	assert_eq "$(ls -A "$W" | tr '\n' ' ')" "engramfs-t1.prom "
}

@test "engramfs-textfile -i keeps the file fresh until SIGTERM" {
	setup_mount
	local out=$W/engramfs-t1.prom i
	"$TEXTFILE" -i 1 "$M" "$out" t1 3>&- &
	LOOP_PID=$!
	for ((i = 0; i < 100; i++)); do [[ -s $out ]] && break; sleep 0.05; done
	[[ -s $out ]] || e2e_fail "no first copy"
	rm "$out"
	for ((i = 0; i < 60; i++)); do [[ -s $out ]] && break; sleep 0.05; done
	[[ -s $out ]] || e2e_fail "no second copy within 3 s"
	kill -TERM "$LOOP_PID"
	local st=0
	wait "$LOOP_PID" || st=$?
	LOOP_PID=""
	assert_eq "$st" 0
}

@test "node exporter exports the copied file with the labels the rules match" {
	local ne
	ne=$(command -v prometheus-node-exporter || command -v node_exporter) ||
		skip "prometheus-node-exporter is missing"
	command -v curl >/dev/null || skip "curl is missing"
	setup_mount
	mkdir "$W/textfile"
	"$TEXTFILE" "$M" "$W/textfile/engramfs-t1.prom" t1
	local port
	port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$ne" --web.listen-address="127.0.0.1:$port" --collector.disable-defaults \
		--collector.textfile --collector.textfile.directory="$W/textfile" \
		>"$W/ne.log" 2>&1 3>&- &
	NE_PID=$!
	local i body=""
	for ((i = 0; i < 100; i++)); do
		body=$(curl -sf "http://127.0.0.1:$port/metrics") && break
		sleep 0.05
	done
	[[ -n $body ]] || e2e_fail "node exporter did not answer:" "$(cat "$W/ne.log")"
	grep -Eq '^engram_uptime_seconds\{store="t1"\} ' <<<"$body"
	grep -q '^node_textfile_scrape_error 0$' <<<"$body"
	# the file label EngramMountDown and EngramMetricsMissing match on
	local file
	file=$(sed -n 's/^node_textfile_mtime_seconds{file="\([^"]*\)"}.*/\1/p' <<<"$body")
	[[ $file =~ ^(.*/)?engramfs-[^/]+\.prom$ ]] || e2e_fail "file label: '$file'"
	[[ ${file##*engramfs-} == t1.prom ]]
}
