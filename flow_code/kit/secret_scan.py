"""Look for credentials in files, notebook outputs and git history: `python -m flow_code.kit.secret_scan [FILE ...]`.

A complement to detect-secrets (see .pre-commit-config.yaml) for the shapes this kit is most likely
to leak: Slack webhooks and tokens (the seed had one in its code), plus other common API keys.
With no FILE it scans every file git tracks and the whole git history. Exit status 1 on a find.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from flow_code.kit.processes import REPO

PATTERNS = {
    "Slack webhook": r"hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{12,}",
    "Slack token": r"xox[abposr]-[0-9A-Za-z-]{10,}",
    "AWS access key": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    "private key": r"-----BEGIN (?:RSA |EC |DSA |OPENSSH )?PRIVATE KEY-----",
    "Prefect Cloud API key": r"\bpnu_[A-Za-z0-9]{36}\b",
}
COMPILED = {kind: re.compile(pattern) for kind, pattern in PATTERNS.items()}


def find_secrets(text: str, where: str) -> list[str]:
    """One line per credential-shaped string in `text`: where, line number, kind (never the value)."""
    finds = []
    for number, line in enumerate(text.splitlines(), start=1):
        finds += [f"{where}:{number}: a {kind}" for kind, pattern in COMPILED.items() if pattern.search(line)]
    return finds


def tracked_files(repo: Path) -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, text=True, check=True).stdout
    return [repo / name for name in names.split("\0") if name]


def git_history(repo: Path) -> str:
    """Every change ever committed on any branch, as patches."""
    return subprocess.run(
        ["git", "log", "-p", "--all", "--no-color"],
        cwd=repo,
        capture_output=True,
        text=True,
        errors="replace",
        check=True,
    ).stdout


def scan(paths: list[Path], repo: Path | None = None) -> list[str]:
    """Finds in `paths` (notebooks included: their outputs are text too) and, given `repo`, its history."""
    finds = []
    for path in paths:
        if path.is_file():
            finds += find_secrets(path.read_text(errors="replace"), str(path))
    if repo is not None:
        finds += find_secrets(git_history(repo), "git history")
    return finds


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    finds = scan([Path(name) for name in argv]) if argv else scan(tracked_files(REPO), REPO)
    for find in finds:
        print(find)
    return 1 if finds else 0


if __name__ == "__main__":
    sys.exit(main())
