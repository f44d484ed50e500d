# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The options of the modules that read or change a service's state on the state host.
    DOCUMENTATION = r"""
options:
  service:
    description:
      - The service (its inventory host name, as C(autoscale_preflight) checks it).
    type: str
    required: true
  state_dir:
    description:
      - The state folder on the state host (C(vm_autoscale_state_dir)). The service's state is
        C(services/<service>.json) under it, its event log C(events/<service>.jsonl).
    type: path
    default: /var/lib/vm_autoscale
  textfile_dir:
    description:
      - node_exporter's textfile-collector folder (C(vm_autoscale_textfile_dir)). When set, every
        change also rewrites C(vm_autoscale_<service>_state.prom) there, atomically.
    type: path
  timeout:
    description:
      - Seconds to wait for another run that is writing the same service's state (a few
        milliseconds each); not the run lock's wait.
    type: float
    default: 30
notes:
  - Run it on the state host (C(delegate_to) the state host). The file format is described in the
    collection's C(docs/state.md).
"""
