# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test's fault: SIGKILL the whole ansible-playbook process group right after a chosen task.

Enabled by the crash-safety tests only (ANSIBLE_CALLBACKS_ENABLED=kill_after). The task is the
first whose (templated) name starts with VM_AUTOSCALE_TEST_KILL_AFTER and that ends ok or
changed; the kill is exactly what an evicted AWX pod or a dead Jenkins agent does to a run: no
rescue, no always, no handler runs. With VM_AUTOSCALE_TEST_SIGNAL=STOP the group is stopped
instead (a frozen runner: a paused VM, a suspended laptop), for the test to continue it later
with SIGCONT. With VM_AUTOSCALE_TEST_SIGNAL=CUT nothing is signalled: the file
VM_AUTOSCALE_TEST_CUT_FILE is made, and the state host's connection (connection_plugins/cut_local.py)
stops answering from then on. The playbook must be started in a session of its own.
"""

from __future__ import annotations

import os
import signal

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: kill_after
type: aggregate
short_description: SIGKILL the run's process group after a named task (crash-safety tests)
description: SIGKILL the run's process group after a named task (crash-safety tests).
requirements: [enabled in ANSIBLE_CALLBACKS_ENABLED]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kill_after"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.prefix = os.environ.get("VM_AUTOSCALE_TEST_KILL_AFTER", "")
        self.mode = os.environ.get("VM_AUTOSCALE_TEST_SIGNAL", "KILL")
        self.signal = signal.SIGSTOP if self.mode == "STOP" else signal.SIGKILL

    def v2_runner_on_ok(self, result) -> None:
        names = {getattr(result, "task_name", None) or "", result._task.get_name()}
        if self.prefix and any(name.startswith(self.prefix) for name in names):
            self.prefix = ""  # once: a continued run goes on
            if self.mode == "CUT":
                with open(os.environ["VM_AUTOSCALE_TEST_CUT_FILE"], "w", encoding="utf-8") as marker:
                    marker.write("cut\n")
                return
            os.killpg(os.getpgrp(), self.signal)
