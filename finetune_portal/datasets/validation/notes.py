"""The errors and warnings a report gathers, each about a line of the file or about the whole file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Notes:
    errors: list[dict]
    warnings: list[dict]

    def error(self, message: str, line: int | None = None) -> None:
        self.errors.append({"line": line, "message": message})

    def warn(self, message: str, line: int | None = None, *, lines: list[int] | None = None) -> None:
        """A warning about one line (``line``), or about the file; ``lines`` are the first lines it
        concerns, which the report names without making the warning a line's own."""
        warning: dict = {"line": line, "message": message}
        if lines:
            warning["lines"] = lines
        self.warnings.append(warning)
