#!/usr/bin/env bash
# The main job, run by 'make demo' inside a lab that 'lab/lab run' brought up (and tears down
# after, also on failure): onboard the lab's two services with their Jenkins jobs enabled, make
# each one's template, then tell the closed-loop story (lab/labctl/story.py) - acme-web's load
# rises, it scales out to 3 and 4 VMs through Prometheus, Alertmanager and its Jenkins job, the
# load falls, it scales back in to 2; globex-api stays untouched. Exits non-zero if the story
# did not happen as told. Each playbook's full output is kept in .lab/demo/ (it survives the lab).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
logs=.lab/demo
rm -rf "$logs" && mkdir -p "$logs"
begin=$(date +%s)
export VM_AUTOSCALE_LAB_PIPELINES=on # the services' Jenkins jobs enabled: alerts start real builds

clock() { local s=$(($(date +%s) - begin)); printf '%02d:%02d' $((s / 60)) $((s % 60)); }

# Run a playbook with its output in a log; print one line with its recap, or its end on failure.
step() {
    local name=$1 playbook=$2 why=$3 started log
    shift 3
    started=$(date +%s)
    log="$logs/$name.log"
    printf '  [%s] %-24s %s\n' "$(clock)" "$playbook" "$why"
    if ! ansible-playbook -i inventories/lab "playbooks/$playbook" "$@" >"$log" 2>&1; then
        tail -n 40 "$log" | sed 's/^/      | /'
        echo "  [$(clock)] $playbook FAILED - the whole output is in $log" >&2
        exit 1
    fi
    if grep -m1 -F '[DEPRECATION WARNING]' "$log" >&2; then
        echo "  [$(clock)] $playbook used a deprecated feature (above; the whole output is in $log)" >&2
        exit 1
    fi
    local recap
    recap=$(sed -n '/PLAY RECAP/,$p' "$log" | awk 'NR > 1 && NF {
        for (i = 3; i <= NF; i++) { split($i, kv, "="); total[kv[1]] += kv[2] } }
        END { printf "ok=%d changed=%d failed=%d", total["ok"], total["changed"], total["failed"] }')
    printf '           %-24s done in %ss: %s (log: %s)\n' "" $(($(date +%s) - started)) "$recap" "$log"
}

cat <<'EOF'

== The closed-loop demo of danacloud.vm_autoscale
   The lab above is a datacenter on this machine: vCenter (vcsim), two F5 BIG-IPs and Jenkins
   (emulated), the real Prometheus, Alertmanager and node_exporter, and a guest simulator that
   plays every VM's load. Two customer services live in it, each with 2 static VMs, its own
   IP pool and F5 pool: acme-web (a web shop) and globex-api (an API).

== Setting up, as an operator would (docs/user-guide.md)
EOF
step onboard onboard.yml "validate both services; their Jenkins jobs, Prometheus rules, Alertmanager routes"
step templates create_template.yml "a vCenter template for each service, cloned from its first VM"

cat <<'EOF'

== The story: a timeline of what every system shows (polled every 2 s; [mm:ss] since it began)
   alert = Prometheus's alert state, build = Jenkins, event = the service's event log on the state
   host, IP = its IP pool, vCenter = the VMs, F5 = pool members on bigip-a and bigip-b
EOF
.venv/bin/python -u -m labctl.story "$logs"
echo
echo "== The story happened as told in $(clock) (mm:ss) in all. The lab is torn down now."
