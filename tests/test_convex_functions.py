"""The Convex functions' own suites, run by pytest so that one command runs every test.

vitest runs `convex/*.test.ts` (the functions under convex-test) and the local server's protocol
tests; tsc type-checks `convex/` the way `npx convex deploy` does.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[1]


def _npx(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    npx = shutil.which("npx")
    if npx is None or not (ROOT / "node_modules" / "convex-test").exists():
        pytest.fail("Node.js and the npm packages are missing: run 'bash .ci/install'")
    return subprocess.run([npx, "--no-install", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_convex_functions_pass_their_vitest_suite():
    proc = _npx("vitest", "run", "--reporter=dot")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "passed" in proc.stdout


def test_convex_functions_type_check_as_a_deploy_would():
    proc = _npx("tsc", "--noEmit", "-p", "convex")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
