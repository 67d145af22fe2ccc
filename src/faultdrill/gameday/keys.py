"""Single-key input from the terminal (cbreak mode, restored on exit), turned into game-day commands."""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty
from collections.abc import Callable

from faultdrill.gameday.control import Command

ANNOTATION_KEYS = {"d": "detected", "a": "alerted", "s": "assessed", "m": "mitigated", "v": "resolved"}


class KeyReader:
    """Context manager: reads keys on a thread while the live view runs; ``on_key`` gets each one."""

    def __init__(self, on_key: Callable[[str], None]) -> None:
        self.on_key = on_key
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keys", daemon=True)
        self._saved: list | None = None  # type: ignore[type-arg]
        self._fd = sys.stdin.fileno() if sys.stdin and sys.stdin.isatty() else None

    def __enter__(self) -> KeyReader:
        if self._fd is not None:
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)
        if self._fd is not None and self._saved is not None:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def _run(self) -> None:
        assert self._fd is not None
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if ready:
                data = os.read(self._fd, 1)
                if data:
                    self.on_key(data.decode("utf-8", "ignore"))


class KeyMap:
    """Turns keys into commands; remembers the selected fault (pure apart from ``submit``)."""

    def __init__(self, submit: Callable[[Command], object]) -> None:
        self.submit = submit
        self.selected: int | None = None
        self.message = ""

    def press(self, key: str) -> None:
        if key.isdigit() and key != "0":
            self.selected = int(key)
            self.message = f"fault {key} selected: i inject · h heal · r reveal"
        elif key in ("i", "h", "r"):
            if self.selected is None:
                self.message = "select a fault first (1-9)"
                return
            verb = {"i": "inject", "h": "heal", "r": "reveal"}[key]
            self.submit(Command(verb, fault=str(self.selected), source="keys"))
            self.message = f"{verb} fault {self.selected}"
        elif key in ANNOTATION_KEYS:
            self.submit(Command("annotate", kind=ANNOTATION_KEYS[key], source="keys"))
            self.message = f"marked: {ANNOTATION_KEYS[key]}"
        elif key == "q":
            self.submit(Command("stop", text="ended from the live view", source="keys"))
            self.message = "ending the game day: healing faults and tearing down…"
