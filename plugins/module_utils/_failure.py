# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way a module of this collection fails. Private.

A module's helpers raise ``ModuleFailure`` - what the module failed to do, why, and any result
keys worth returning with the failure - and its ``main()`` hands its work to ``run``, which
turns that into the module's one ``fail_json``.
Every message reads the same: ``Failed to <verb> <object>: <reason>``.
"""

from __future__ import annotations


class ModuleFailure(Exception):
    """``Failed to <action>: <reason>``; ``result`` is returned beside the message."""

    def __init__(self, action: str, reason: object, **result) -> None:
        self.action = action
        self.reason = str(reason)
        self.result = result
        super().__init__(f"Failed to {action}: {self.reason}")


def run(module, work) -> None:
    """Do the module's ``work(module)`` and exit: with its result, or with its one failure."""
    try:
        result = work(module)
    except ModuleFailure as exc:
        module.fail_json(msg=str(exc), **exc.result)
    module.exit_json(**result)
