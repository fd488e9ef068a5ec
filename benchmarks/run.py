#!/usr/bin/env python
# -*- test-case-name: tests.test_benchmarks -*-
"""
One-command benchmark: twisted-mail-suite against the anchors, side by side.

    python benchmarks/run.py                  # the full run behind docs/performance.md (~11 min)
    python benchmarks/run.py --quick          # a minute or so, tiny counts (CI)
    python benchmarks/run.py --only smtp,pop3 # some scenario groups

Installs nothing: it says which anchors are missing and how to get them,
then measures ours and whichever anchors are here.  Servers run in a
temporary directory on free loopback ports and are stopped by PID.  The
table goes to stdout and to OUTPUT/table.md, every raw result to
OUTPUT/results.json; a full run rewrites docs/performance.md, a quick run
writes OUTPUT/performance.md instead.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import profiles  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402
import targets  # noqa: E402
from common import log, raiseFileLimit, sizeArg  # noqa: E402

DOCS = os.path.join(report.ROOT, "docs", "performance.md")


def parseArgs(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny counts, one repeat (CI)")
    parser.add_argument("--output", default=os.path.join(report.ROOT, "bench-results"),
                        help="folder for table.md, results.json (default: bench-results/)")
    parser.add_argument("--only", default=",".join(scenarios.GROUPS),
                        help=f"comma list of scenario groups (default: {','.join(scenarios.GROUPS)})")
    parser.add_argument("--skip-anchors", default="", help="comma list of anchors not to run")
    parser.add_argument("--repeats", type=int, help="override the plan's repeats")
    parser.add_argument("--docs", help=f"write the generated document here (full run default: {DOCS})")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/performance.md")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                        help="profile ours with py-spy where it trails an anchor (default: on, off with --quick)")
    parser.add_argument("--smtp-cells", metavar="SIZE/CONC/MODE,...",
                        help="SMTP cells instead of the plan's, e.g. 1k/50/reuse,100k/10/per-msg")
    parser.add_argument("--smtp-count", type=int, help="messages per SMTP run instead of the plan's")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:VAR=VALUE,...",
                        help="one more of our servers, with these environment variables, in the smtp, "
                             "pop3 and chat groups (A/B of a change behind a switch; repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--render", metavar="RESULTS_JSON",
                        help="measure nothing: rewrite the document from a run's results.json "
                             "(after editing benchmarks/NOTES.md)")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(scenarios.GROUPS)
    if unknown:
        parser.error(f"unknown scenario groups: {', '.join(sorted(unknown))}")
    args.cells = None
    if args.smtp_cells:
        try:
            args.cells = [(sizeArg(size), int(conc), {"reuse": 0, "per-msg": 1}[mode])
                          for size, conc, mode in (cell.split("/") for cell in args.smtp_cells.split(","))]
        except (ValueError, KeyError):
            parser.error("--smtp-cells: give SIZE/CONCURRENCY/reuse|per-msg, comma-separated")
    args.variants = {}
    for spec in args.variant:
        name, _, assignments = spec.partition(":")
        if not name or name in report.ANCHOR_ORDER or "=" in name:
            parser.error(f"--variant {spec!r}: give NAME:VAR=VALUE,... with a new NAME")
        args.variants[name] = dict(a.split("=", 1) for a in assignments.split(",") if "=" in a)
    return args


def render(args: argparse.Namespace) -> int:
    with open(args.render) as f:
        saved = json.load(f)
    info = saved["info"]
    path = args.docs or (os.path.join(os.path.dirname(args.render), "performance.md") if info.get("quick") else DOCS)
    with open(path, "w") as f:
        f.write(report.document(saved["records"], saved["profiles"], info, saved["command"], saved["missing"],
                                saved["problems"], info.get("profiling", bool(saved["profiles"]))))
    log(f"run: wrote {path} from {args.render}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parseArgs(argv)
    if args.render:
        return render(args)
    began = time.monotonic()
    command = "python benchmarks/run.py" + "".join(" " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    plan = scenarios.QUICK if args.quick else scenarios.FULL
    changes = {"repeats": args.repeats, "smtpCells": args.cells,
               "smtpCount": {size: args.smtp_count for size in (1024, 102400, *(c[0] for c in args.cells or []))}
               if args.smtp_count else None}
    plan = dataclasses.replace(plan, **{k: v for k, v in changes.items() if v})
    if not args.smtp_count:
        plan.smtpCount = {**plan.smtpCount, **{c[0]: plan.smtpCount.get(c[0], 300) for c in plan.smtpCells}}
    missing = targets.missingAnchors()
    for name in filter(None, args.skip_anchors.split(",")):
        missing.setdefault(name, "skipped with --skip-anchors")
    for name, hint in missing.items():
        log(f"run: anchor {name} is not available; without it ours is measured alone there. {hint}")
    profiling = args.profile if args.profile is not None else not args.quick
    if profiling and profiles.pySpy() is None:
        log("run: py-spy is not installed, so no profiles (pip install py-spy)")
        profiling = False
    load = os.getloadavg()[0]
    if load > 1.0 and not args.quick:
        log(f"run: the load average is {load:.2f}: other work is running, figures will be noisy")
    log(f"run: file descriptor limit {raiseFileLimit()} (children inherit it)")

    scratch = tempfile.mkdtemp(prefix="mailsuite-bench-")
    os.chmod(scratch, 0o755)
    bench = scenarios.Bench(plan, scratch, missing, profiling, args.variants)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))     # so that finally: stops our servers
    try:
        for name in args.only.split(","):
            log(f"run: --- {name} ---")
            try:
                scenarios.GROUPS[name](bench)
            except Exception as e:       # one broken group must not lose the others' figures
                bench.problems.append(f"{name}: {e.__class__.__name__}: {e}"[:300])
                log(f"run: {name} failed: {e!r}")
    finally:
        targets.Server.stopAll()
        if not args.keep:
            import shutil
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            log(f"run: kept {scratch}")

    info = {"machine": report.machine(), "versions": targets.versions(), "commit": report.commit(),
            "minutes": (time.monotonic() - began) / 60, "loadStart": load, "loadEnd": os.getloadavg()[0],
            "quick": args.quick, "profiling": profiling}
    table = report.summaryTable(bench.records)
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "table.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.output, "results.json"), "w") as f:
        json.dump({"command": command, "plan": plan.__dict__, "info": info, "missing": missing,
                   "records": bench.records, "profiles": {k: {x: y for x, y in p.items() if x != "load"}
                                                          for k, p in bench.profiles.items()},
                   "problems": bench.problems}, f, indent=1, default=str)
    docsPath = args.docs or (None if args.no_docs else (os.path.join(args.output, "performance.md")
                                                        if args.quick else DOCS))
    if docsPath:
        with open(docsPath, "w") as f:
            f.write(report.document(bench.records, bench.profiles, info, command, missing,
                                    bench.problems, profiling))
    print(table)
    print()
    for issue, text, status, figures in report.targetsMet(bench.records, judge=not args.quick):
        print(f"{issue:9} {status:14} {text}" + (f": {figures}" if figures else ""))
    for problem in bench.problems:
        log(f"run: problem: {problem}")
    log(f"run: {info['minutes']:.1f} minutes; wrote {args.output}/table.md, results.json"
        + (f" and {docsPath}" if docsPath else ""))
    oursMeasured = any((r["target"] == "ours" or r["scenario"] == "scale") and not r["result"].get("error")
                       for r in bench.records)
    return 0 if oursMeasured else 1


if __name__ == "__main__":
    sys.exit(main())
