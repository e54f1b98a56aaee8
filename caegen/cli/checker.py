"""What `caegen check` does once its command line is read: load and check each spec, print
the reports (text or JSON), and say whether they passed. The typer command and the fast
start (caegen.cli.check_start) both call `check_files`, so they print the same."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from caegen.core.diagnostics import CaegenError


def check_files(
    specs: list[Path],
    *,
    json_format: bool = False,
    strict: bool = False,
    table: bool = True,
    ignore: str | None = None,
    select: str | None = None,
) -> int:
    """Check the specs and print their reports; the exit code (0: every one passed)."""
    from caegen.compile.compiler import Report, check
    from caegen.spec.loader import load

    ignored = codes(ignore) or []
    selected = codes(select)
    reports: list[Report] = []
    for path in specs:
        try:
            spec = load(path)
        except CaegenError as exc:
            reports.append(Report(None, None, exc.diagnostics, str(path)))
            continue
        reports.append(check(spec, ignore=ignored, select=selected))
    passed = all(r.passed(strict) for r in reports)
    if json_format:
        results = [r.to_dict(strict) for r in reports]
        out = {"version": 1, "ok": passed, "strict": strict, "results": results}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        from caegen.cli.render import print_report
        from caegen.cli.terminal import stdout

        for report in reports:
            print_report(stdout, report, table=table, strict=strict)
    return 0 if passed else 1


def codes(value: str | None) -> list[str] | None:
    """`--ignore`'s and `--select`'s comma-separated codes (None when not given)."""
    if value is None:
        return None
    return [c.strip().upper() for c in value.split(",") if c.strip()]
