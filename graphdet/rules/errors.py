"""The rules layer's error: every problem names the file, the line and (when known) the rule."""

from __future__ import annotations

from dataclasses import dataclass

from graphdet.exceptions import GraphdetError

__all__ = ["RuleError", "RuleIssue", "RuleSetError"]


@dataclass(frozen=True, slots=True)
class RuleIssue:
    """One problem in a rules folder: where it is and what is wrong."""

    file: str
    line: int | None
    message: str
    rule_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        rule = f" [{self.rule_id}]" if self.rule_id else ""
        return f"{where}:{rule} {self.message}"


class RuleError(GraphdetError):
    """A rule, phrase list or rules folder is invalid; carries the file and line."""

    def __init__(self, message: str, *, file: str = "", line: int | None = None, rule_id: str | None = None) -> None:
        self.issue = RuleIssue(file, line, message, rule_id)
        super().__init__(str(self.issue) if file else message)

    @property
    def file(self) -> str:
        return self.issue.file

    @property
    def line(self) -> int | None:
        return self.issue.line

    @property
    def rule_id(self) -> str | None:
        return self.issue.rule_id


class RuleSetError(RuleError):
    """Loading a rules folder found one or more problems; ``issues`` lists them all."""

    def __init__(self, issues: list[RuleIssue]) -> None:
        self.issues = tuple(issues)
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(first.message + more, file=first.file, line=first.line, rule_id=first.rule_id)
        self.args = ("\n".join(str(i) for i in issues),)

    def __str__(self) -> str:
        return "\n".join(str(i) for i in self.issues)
