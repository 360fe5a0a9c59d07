"""Summarises checkov's JSON report (scripts/k8s-check.sh): every failed check with its resource
and lines, every skipped check with the reason given in the manifest, then one line
"checkov: N passed, M failed, K skipped". Exit status 1 on a failed check, a parsing error, or a
report that scanned nothing."""
from __future__ import annotations

import json
import sys


def main() -> int:
    path = sys.argv[1]
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        print(f"checkov: no usable report in {path} ({e}); did checkov crash? (output above)")
        return 1
    reports = data if isinstance(data, list) else [data]
    passed = failed = skipped = parsing = resources = 0
    lines_failed: list[str] = []
    lines_skipped: list[str] = []
    for r in reports:
        summary = r.get("summary", r)
        passed += summary.get("passed", 0)
        failed += summary.get("failed", 0)
        skipped += summary.get("skipped", 0)
        parsing += summary.get("parsing_errors", 0)
        resources += summary.get("resource_count", 0)
        results = r.get("results", {})
        for c in results.get("failed_checks", []):
            lo, hi = (c.get("file_line_range") or [0, 0])[:2]
            lines_failed.append(f"  FAIL  {c['check_id']} {c.get('check_name', '')}\n"
                                f"        {c.get('resource')} in {c.get('file_path', '').lstrip('/')}:{lo}-{hi}")
        for c in results.get("skipped_checks", []):
            reason = (c.get("check_result") or {}).get("suppress_comment") or "(no reason given)"
            lines_skipped.append(f"  skip  {c['check_id']} {c.get('check_name', '')}\n"
                                 f"        {c.get('resource')} ({c.get('file_path', '').lstrip('/')}): {reason}")
        for e in results.get("parsing_errors", []):
            lines_failed.append(f"  FAIL  cannot parse {e}")
    if lines_skipped:
        print("checkov: skipped policies (checkov.io/skipN annotations in the manifests):")
        print("\n".join(lines_skipped))
    if lines_failed:
        print("checkov: failed policies (fix the manifest, or skip with a checkov.io/skipN: ID=reason annotation):")
        print("\n".join(lines_failed))
    ok = failed == 0 and parsing == 0 and resources > 0 and not any("no reason" in s for s in lines_skipped)
    if resources == 0:
        print("checkov: scanned no resources")
    print(f"checkov: {passed} passed, {failed} failed, {skipped} skipped ({resources} resources, {parsing} parsing errors)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
