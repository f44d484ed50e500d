#!/bin/sh
# The one step of a service's scheduled reconcile job (jenkins/Jenkinsfile.reconcile):
# playbooks/reconcile.yml for the job's service, report-only unless the job says to fix
# (docs/reconcile.md). The run records the drift it leaves (vm_autoscale_drift, the
# VmAutoscaleDrift alert) and repairs what a dead run left when it fixes.
#
# In: AUTOSCALE_SERVICE, RECONCILE_FIX (job parameters; RECONCILE_FIX true or false, from the
# inventory's autoscale.reconcile), AUTOSCALE_TIMEOUT_SECONDS (job parameter: the run is stopped
# after it); VM_AUTOSCALE_{VCENTER,F5}_{USERNAME,PASSWORD} (withCredentials,
# read by the playbook from its environment); VM_AUTOSCALE_VAULT_PASSWORD_FILE (optional);
# VM_AUTOSCALE_INVENTORY (default inventories/production); BUILD_TAG (Jenkins).
# Out: the playbook's exit code (red when drift is left, so that the job's history shows it).
set -eu

service="${AUTOSCALE_SERVICE:?the job parameter AUTOSCALE_SERVICE (the service of the job) is not set}"
inventory="${VM_AUTOSCALE_INVENTORY:-inventories/production}"
tag="${BUILD_TAG:-manual-$(date -u +%Y%m%dT%H%M%SZ)}"
case "${RECONCILE_FIX:-false}" in
    true|false) fix="${RECONCILE_FIX:-false}" ;;
    *) echo "reconcile: RECONCILE_FIX is '${RECONCILE_FIX}', expected true or false" >&2; exit 2 ;;
esac

set -- -i "$inventory" playbooks/reconcile.yml -l "$service" \
    -e "reconcile_fix=$fix" -e reconcile_fail_on_drift=true -e "reconcile_run_id=$tag"
if [ -n "${VM_AUTOSCALE_VAULT_PASSWORD_FILE:-}" ]; then
    set -- "$@" --vault-id "runtime@$VM_AUTOSCALE_VAULT_PASSWORD_FILE"
fi
limit="${AUTOSCALE_TIMEOUT_SECONDS:-5400}"
case "$limit" in
    ''|*[!0-9]*) echo "reconcile: AUTOSCALE_TIMEOUT_SECONDS is '$limit', expected a whole number of seconds" >&2; exit 2 ;;
esac
echo "reconcile: service $service, fix $fix, run $tag, timeout $limit s"
status=0
timeout -k 60 "$limit" ansible-playbook "$@" || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "reconcile: the run of $service took longer than its timeout ($limit s, the job parameter AUTOSCALE_TIMEOUT_SECONDS) and was stopped; the next run repairs what it left (docs/operations.md, A run that dies)" >&2
fi
exit "$status"
