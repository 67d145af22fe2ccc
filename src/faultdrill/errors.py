"""One error tree. Each error knows the exit code the CLI maps it to."""

from __future__ import annotations


class ExitCode:
    OK = 0
    CHECK_FAILED = 1
    INVALID = 2
    INFRA = 3
    INTERRUPTED = 130


class FaultdrillError(Exception):
    """Base of every error the CLI turns into a message and an exit code."""

    exit_code: int = ExitCode.INFRA

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(FaultdrillError):
    exit_code = ExitCode.INVALID


class ScenarioError(FaultdrillError):
    """A scenario file that cannot run. Carries every problem found, each with its place."""

    exit_code = ExitCode.INVALID

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: {len(problems)} problem(s)"] if len(problems) > 1 else []
        lines += [p.render(path) for p in problems]
        super().__init__("\n".join(lines))


class Problem:
    """One thing wrong in a scenario file: where, which field, what, and what is allowed."""

    def __init__(self, line: int | None, field: str, message: str, allowed: str | None = None) -> None:
        self.line = line
        self.field = field
        self.message = message
        self.allowed = allowed

    def render(self, path: str) -> str:
        where = f"{path}:{self.line}" if self.line else path
        text = f"{where}: {self.field or '(top level)'}: {self.message}"
        if self.allowed:
            text += f"\n    allowed: {self.allowed}"
        return text

    def __repr__(self) -> str:
        return f"Problem(line={self.line!r}, field={self.field!r}, message={self.message!r})"


class InfraError(FaultdrillError):
    """Docker unreachable, an image that would not build, a service that never got healthy."""

    exit_code = ExitCode.INFRA


class DrillAborted(FaultdrillError):
    """A stop condition fired: the drill healed its faults and stopped early (exit 1, like a failed check)."""

    exit_code = ExitCode.CHECK_FAILED
