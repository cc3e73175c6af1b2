"""A fault of the validator itself (never of the file), and how callers describe it.

No input should raise; when one still does, the engine wraps the exception in ``ValidationCrash`` with
the line it was reading, so the worker can settle the version with a clear message instead of retrying
forever, and the command line can exit with its own status.
"""

from __future__ import annotations


class ValidationCrash(Exception):
    """An unexpected exception while checking lines ``line``..``last_line`` (1-based)."""

    def __init__(self, line: int, last_line: int | None = None, error_type: str = "", detail: str = ""):
        # Every field is in args, so the exception survives the trip back from a worker process.
        super().__init__(line, last_line, error_type, detail)
        self.line = line
        self.last_line = last_line
        self.error_type = error_type
        self.detail = detail

    @classmethod
    def of(cls, exc: BaseException, line: int, last_line: int | None = None) -> ValidationCrash:
        return cls(line, last_line, type(exc).__name__, str(exc))

    def after(self, lines_before: int) -> ValidationCrash:
        """The same crash with line numbers counted from the file's start, not its byte range's."""
        last = self.last_line + lines_before if self.last_line is not None else None
        return ValidationCrash(self.line + lines_before, last, self.error_type, self.detail)

    @property
    def where(self) -> str:
        if self.last_line is not None and self.last_line != self.line:
            return f"lines {self.line}-{self.last_line}"
        return f"line {self.line}"

    def __str__(self) -> str:
        return f"internal error while validating, {self.where}: {self.error_type}: {self.detail}"


def internal_error_message(exc: BaseException) -> tuple[int | None, str]:
    """The line (when known) and a one-line message for the report; the file's content is not quoted."""
    if isinstance(exc, ValidationCrash):
        line, where, error_type = exc.line, f", {exc.where}", exc.error_type
    else:
        line, where, error_type = None, "", type(exc).__name__
    return line, (
        f"Internal error while validating{where} ({error_type}): the validator failed, not necessarily "
        "your file, so the file could not be checked. The error is logged for the maintainers."
    )
