"""lab/load: read or set the load of the lab's services.

lab/load                      every service's demand, and each guest's CPU and connections
lab/load SERVICE              one service's demand
lab/load SERVICE DEMAND       set it: DEMAND is in percent of one VM's CPU (150 = one and a half
                              VMs' worth of work, shared by the members the F5 has enabled)
lab/load --vm VM HEALTH       switch a VM's guest: healthy, unhealthy (/health answers 503) or
                              never_boot (the guest never comes up)
lab/load --vm VM --hold N --seconds S
                              open N long sessions on the VM that stay open S seconds whatever
                              the F5 does with its member (a drain waits for them)
lab/load --vm VM --release    end the VM's held sessions now (a test that must not race their end)
"""

from __future__ import annotations

import argparse
import sys

from .emulators import control_socket
from .httpd import ControlError, control
from .state import default_paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lab/load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vm", help="switch this VM's guest instead of setting a demand")
    parser.add_argument("target", nargs="?", help="a service (or, with --vm, a health state)")
    parser.add_argument("demand", nargs="?", type=float)
    parser.add_argument("--hold", type=int, metavar="N", help="with --vm: open N long sessions on it")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the held sessions stay open")
    parser.add_argument("--release", action="store_true", help="with --vm: end its held sessions now")
    args = parser.parse_args(argv)
    if (args.hold is not None or args.release) and not args.vm:
        parser.error("--hold and --release need --vm VM")
    socket_path = control_socket(default_paths(), "guests")
    try:
        if args.release:
            answer = control(socket_path, "DELETE", f"/guests/{args.vm}/hold")
            print(f"{args.vm}: {answer['ended']} held sessions ended, {answer['connections']} connections open")
            return 0
        if args.vm and args.hold is not None:
            answer = control(socket_path, "POST", f"/guests/{args.vm}/hold",
                             {"connections": args.hold, "seconds": args.seconds})  # fmt: skip
            print(f"{args.vm}: {answer['connections']} connections open")
            return 0
        if args.vm:
            answer = control(socket_path, "PUT", f"/guests/{args.vm}", {"health": args.target})
            print(f"{args.vm}: {answer[args.vm]}")
            return 0
        if args.target and args.demand is not None:
            answer = control(socket_path, "PUT", f"/demand/{args.target}", {"demand": args.demand})
            print(f"{args.target}: demand {answer[args.target]:g}%")
            return 0
        demand = control(socket_path, "GET", "/demand")
        if args.target:
            if args.target not in demand:
                print(f"lab/load: no service {args.target!r}; known: {', '.join(sorted(demand))}", file=sys.stderr)
                return 2
            print(f"{args.target}: demand {demand[args.target]:g}%")
            return 0
        for service, value in sorted(demand.items()):
            print(f"{service}: demand {value:g}%")
        for guest in control(socket_path, "GET", "/guests"):
            state = "up" if guest["booted"] else "booting"
            print(
                f"  {guest['name']:<22} {guest['ip']:<15} {state:<8} {guest['health']:<10} "
                f"cpu {guest['cpu_percent']:5.1f}%  mem {guest['memory_percent']:4.1f}%  "
                f"connections {guest['connections']}"
            )
        return 0
    except ControlError as exc:
        print(f"lab/load: {exc} (is the lab up? 'lab/lab up')", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
