"""python -m labctl.jenkins CONFIG.json: serve the lab's Jenkins until SIGTERM."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from ..httpd import Listener, Request, Response, log, serve_control, stop_event
from .server import Jenkins


def control_app(jenkins: Jenkins, listener: Listener):
    timers: list[threading.Timer] = []

    def back_up() -> None:
        listener.start()
        log("jenkins is back up")

    def handle(request: Request) -> Response:
        path, method = request.path, request.method
        body = request.json() if request.body else {}
        if path == "/status" and method == "GET":
            with jenkins.lock:
                return Response(
                    200,
                    {
                        "up": listener.up,
                        "jobs": sorted(jenkins.jobs),
                        "queue": [jenkins.queue_json(i) for i in jenkins.queue],
                    },
                )
        if path == "/down" and method == "POST":
            for timer in timers:
                timer.cancel()
            listener.stop()
            seconds = body.get("seconds")
            log(f"jenkins is down{f' for {seconds}s' if seconds else ''}")
            if seconds:
                timer = threading.Timer(float(seconds), back_up)
                timer.daemon = True
                timer.start()
                timers.append(timer)
            return Response(200, {"up": False})
        if path == "/up" and method == "POST":
            for timer in timers:
                timer.cancel()
            back_up()
            return Response(200, {"up": True})
        if path == "/faults":
            with jenkins.lock:
                if method == "POST":
                    jenkins.faults.append(
                        {
                            "path": body.get("path", "/"),
                            "status": int(body.get("status", 500)),
                            "remaining": int(body.get("count", 1)),
                        }
                    )
                elif method == "DELETE":
                    jenkins.faults.clear()
                return Response(200, jenkins.faults)
        if path == "/timers" and method == "PUT":
            # {"clock": false}: no build by the wall clock until {"clock": true} (POST /timers still fires)
            if not isinstance(body.get("clock"), bool):
                return Response(400, {"message": f"clock must be true or false, got {body.get('clock')!r}"})
            jenkins.clock = body["clock"]
            return Response(200, {"clock": jenkins.clock})
        if path == "/timers" and method == "POST":
            # Fire the jobs' timers as at the minute given ({"at": "2026-12-03T10:15:00Z"}, default now).
            at = body.get("at")
            try:
                moment = datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ") if at else datetime.now(UTC).replace(tzinfo=None)
            except (TypeError, ValueError):
                return Response(400, {"message": f"at must look like 2026-12-03T10:15:00Z, got {at!r}"})
            return Response(200, {"started": jenkins.fire_timers(moment)})
        if path == "/webhooks" and method == "GET":
            with jenkins.lock:
                return Response(200, jenkins.webhook_log)
        if path == "/unemulated" and method == "GET":
            log_path = jenkins.unemulated.path
            lines = log_path.read_text().splitlines() if log_path.exists() else []
            return Response(200, [json.loads(line) for line in lines])
        return Response(404, {"message": f"no control endpoint {method} {path}"})

    return handle


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    config["password"] = Path(config["password_file"]).read_text().strip()
    config["api_token"] = Path(config["api_token_file"]).read_text().strip()
    jenkins = Jenkins(config)
    listener = Listener(
        "jenkins",
        config["address"],
        config["port"],
        cert=config["cert"],
        key=config["key"],
        app=jenkins.app,
        server_header="Jetty(10.0.20)",
    )
    listener.start()
    log(f"serving Jenkins on {jenkins.url}")
    control = serve_control(Path(config["control_socket"]), control_app(jenkins, listener))
    stop_event().wait()
    control.shutdown()
    listener.stop()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
