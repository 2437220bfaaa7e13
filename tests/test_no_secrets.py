"""No credential in the tree, in notebook outputs or in git history; and the scanners do catch one."""

import shutil
import subprocess
import sys
from pathlib import Path

from flow_code.kit.processes import REPO
from flow_code.kit.secret_scan import find_secrets, scan, tracked_files

# Built from pieces so that this file itself holds no credential-shaped string.
FAKE_WEBHOOK = "https://hooks.slack.com/services/" + "T0123ABCD/B0123ABCD/" + "abcdefghijklmnopqrstuvwx"
FAKE_TOKEN = "xox" + "b-1234567890-abcdefghij"
DETECT_SECRETS_HOOK = str(Path(sys.executable).with_name("detect-secrets-hook"))


def test_no_credentials_in_tracked_files_notebooks_or_history():
    files = tracked_files(REPO)
    assert any(path.suffix == ".ipynb" for path in files)
    assert scan(files, repo=REPO) == []


def test_detect_secrets_finds_nothing_beyond_the_audited_baseline(tmp_path):
    baseline = tmp_path / "baseline.json"  # a copy: the hook rewrites line numbers in the file it is given
    shutil.copy(REPO / ".secrets.baseline", baseline)
    files = [str(path.relative_to(REPO)) for path in tracked_files(REPO) if path.name != ".secrets.baseline"]
    done = subprocess.run(
        [DETECT_SECRETS_HOOK, "--baseline", str(baseline), *files], cwd=REPO, capture_output=True, text=True
    )
    # 0: nothing new; 3: nothing new, but a known (audited) finding moved to another line
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert "Potential secrets" not in done.stdout


def test_the_scanners_catch_a_planted_webhook(tmp_path):
    notebook = tmp_path / "leaky.ipynb"
    notebook.write_text('{"cells": [{"outputs": [{"text": "posting to ' + FAKE_WEBHOOK + '"}]}]}\n')
    script = tmp_path / "leaky.py"
    script.write_text(f'slack_token = "{FAKE_TOKEN}"\n')
    assert scan([notebook, script]) == [f"{notebook}:1: a Slack webhook", f"{script}:1: a Slack token"]
    assert "Slack webhook" not in "".join(find_secrets("SLACK_WEBHOOK_URL=$SLACK_WEBHOOK_URL", "env"))
    done = subprocess.run([DETECT_SECRETS_HOOK, str(notebook), str(script)], capture_output=True, text=True)
    assert done.returncode == 1 and "Slack" in done.stdout
