"""Propagation: the alert the team would get when a check breaches — a webhook and/or a command."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

from faultdrill.scenario.model import Alerts

Report = Callable[[str, dict[str, Any]], object]  # what it answers is not used


class AlertSender:
    """Sends each alert on its own thread (a slow receiver never stalls the drill) and reports the outcome."""

    def __init__(self, settings: Alerts, report: Report) -> None:
        self.settings = settings
        self.report = report
        self._threads: list[threading.Thread] = []

    @property
    def enabled(self) -> bool:
        return bool(self.settings.webhook or self.settings.command)

    def send(self, body: dict[str, Any]) -> None:
        if not self.enabled:
            return
        thread = threading.Thread(target=self._deliver, args=(body,), name="alert", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _deliver(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        if self.settings.webhook:
            try:
                req = urllib.request.Request(self.settings.webhook, data=data, method="POST",
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=5) as resp:
                    self.report("alert.delivered", {"via": "webhook", "status": resp.status, "check": body["check"]})
            except OSError as exc:
                self.report("alert.failed", {"via": "webhook", "error": str(exc), "check": body["check"]})
        if self.settings.command:
            try:
                proc = subprocess.run(self.settings.command, input=data, capture_output=True, timeout=10)
                self.report("alert.delivered", {"via": "command", "exit_code": proc.returncode, "check": body["check"]})
            except (OSError, subprocess.SubprocessError) as exc:
                self.report("alert.failed", {"via": "command", "error": str(exc), "check": body["check"]})

    def close(self, timeout: float = 10.0) -> None:
        for thread in self._threads:
            thread.join(timeout)
