"""What `caegen check` does once its command line is read: load and check each spec, print
the reports (text or JSON), and say whether they passed. The typer command and the fast
start (caegen.cli.check_start) both call `check_files`, so they print the same."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from caegen.cli.failures import USAGE, report
from caegen.core.diagnostics import CODES, CaegenError, Diagnostic, Location, Severity


def check_files(
    specs: list[Path],
    *,
    json_format: bool = False,
    strict: bool = False,
    table: bool = True,
    ignore: str | None = None,
    select: str | None = None,
    failed_fixes: dict[Path, list[Diagnostic]] | None = None,
) -> int:
    """Check the specs and print their reports; the exit code (0: every one passed).
    `failed_fixes`: why `--fix` could not write a spec, made part of its report."""
    from caegen.compile.compiler import Report, check
    from caegen.spec.loader import load

    mistakes = code_mistakes(ignore, select)
    if mistakes:
        report(mistakes)
        return USAGE
    ignored = codes(ignore) or []
    selected = codes(select)
    reports: list[Report] = []
    for path in specs:
        try:
            checked = check(load(path), ignore=ignored, select=selected)
        except CaegenError as exc:
            checked = Report(None, None, list(exc.diagnostics), str(path))
        checked.diagnostics[:0] = (failed_fixes or {}).get(path, [])  # why it is not fixed
        reports.append(checked)
    passed = all(r.passed(strict) for r in reports)
    if json_format:
        results = [r.to_dict(strict) for r in reports]
        out = {"version": 1, "ok": passed, "strict": strict, "results": results}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        from caegen.cli.render import print_report
        from caegen.cli.terminal import stdout

        for checked in reports:
            print_report(stdout, checked, table=table, strict=strict)
    return 0 if passed else 1


def codes(value: str | None) -> list[str] | None:
    """`--ignore`'s and `--select`'s comma-separated codes (None when not given)."""
    if value is None:
        return None
    return [c.strip().upper() for c in value.split(",") if c.strip()]


def code_mistakes(ignore: str | None, select: str | None) -> list[Diagnostic]:
    """E077 for each `--ignore` code that no warning or info has and each `--select` prefix
    that starts none: a typo (`W1O3`) would otherwise leave every finding in, silently."""
    lintable = [c for c, info in CODES.items() if info.severity is not Severity.ERROR]
    hint = "warning and info codes: " + ", ".join(sorted(lintable))
    mistakes = []
    for code in codes(ignore) or []:
        if code not in lintable:
            why = "errors cannot be left out" if code in CODES else "no warning or info has it"
            mistakes.append(Diagnostic("E077", f"--ignore {code}: {why}", Location(), hint))
    if select is not None and not codes(select):  # `--select ""` would hide every finding
        mistakes.append(Diagnostic("E077", "--select names no code", Location(), hint))
    for prefix in codes(select) or []:
        if not any(c.startswith(prefix) for c in lintable):
            message = f"--select {prefix}: no warning or info code starts with it"
            mistakes.append(Diagnostic("E077", message, Location(), hint))
    return mistakes
