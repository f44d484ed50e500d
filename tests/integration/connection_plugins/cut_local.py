# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test's fault: the lab's state host stops answering, as a host behind a cut link does.

The lab's state host is this machine (a local connection), so the link cannot be cut by the
network; this connection runs commands locally like ``ansible.builtin.local`` until the file
named by VM_AUTOSCALE_TEST_CUT_FILE exists, then fails every connection attempt with
AnsibleConnectionFailure - which Ansible turns into an UNREACHABLE result, exactly as for an SSH
host that no longer answers (no rescue runs for it). The crash-safety test gives it to the state
host only, in an inventory of its own, and the kill_after callback makes the file at the chosen
step (VM_AUTOSCALE_TEST_SIGNAL=CUT).
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.connection.local import Connection as LocalConnection

DOCUMENTATION = """
name: cut_local
short_description: local, until the test cuts it (then every call is unreachable)
description: Local execution; unreachable while the file VM_AUTOSCALE_TEST_CUT_FILE exists (crash-safety tests).
author: Dana Cloud platform team (@danacloud)
extends_documentation_fragment:
  - connection_pipelining
"""


class Connection(LocalConnection):
    transport = "cut_local"

    def _cut(self) -> None:
        marker = os.environ.get("VM_AUTOSCALE_TEST_CUT_FILE", "")
        if marker and os.path.exists(marker):
            raise AnsibleConnectionFailure(f"{self._play_context.remote_addr}: no route to host (cut by the test)")

    def _connect(self):
        self._cut()
        return super()._connect()

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self._cut()
        return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)

    def put_file(self, in_path, out_path):
        self._cut()
        return super().put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        self._cut()
        return super().fetch_file(in_path, out_path)
