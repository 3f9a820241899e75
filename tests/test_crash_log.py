"""An unexpected failure leaves its traceback in gitorch's own folder: a private file, never written
through a planted link, with every secret masked."""

from __future__ import annotations

import stat
import sys

import pytest

from gitorch import config as config_module
from gitorch.cli import main

DOTENV_SECRET = "smtp-pass-4Gq9LeakNot"
ENV_SECRET = "pg-pass-8Hw3LeakNot"
ARG_SECRET = "dashboard-token-0123456789abcdef"


def test_a_crash_log_is_private_follows_no_link_and_holds_no_secret(repo, monkeypatch, capsys, tmp_path):
    (repo / ".env").write_text(f"SMTP_PASSWORD={DOTENV_SECRET}\n")
    monkeypatch.setenv("PGPASSWORD", ENV_SECRET)
    cfg = config_module.load(cwd=repo)
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (cfg.state_dir / "crash.log").symlink_to(victim)  # planted where the log goes

    def broken(*args, **kwargs):
        raise RuntimeError(f"boom with {DOTENV_SECRET} and {ENV_SECRET} and ghp_{'a' * 36}")

    monkeypatch.setattr("gitorch.dashboard.sources.LocalSource.__init__", broken)
    argv = ["dashboard", "--port", "0", "--token", ARG_SECRET]
    monkeypatch.setattr(sys, "argv", ["gitorch", *argv])
    with pytest.raises(SystemExit) as ended:
        main(argv)
    said = capsys.readouterr().err
    log = cfg.state_dir / "crash.log"
    assert ended.value.code == 3 and f"details in {log}" in said
    assert victim.read_text() == "keep me\n"
    assert not log.is_symlink() and stat.S_IMODE(log.stat().st_mode) == 0o600
    text = log.read_text()
    assert "RuntimeError: boom with [REDACTED] and [REDACTED] and [REDACTED]" in text
    assert "'--token', '[REDACTED]'" in text
    for secret in (DOTENV_SECRET, ENV_SECRET, ARG_SECRET):
        assert secret not in text
    assert [p.name for p in cfg.state_dir.iterdir() if p.name.startswith(".crash")] == []


def test_a_second_crash_replaces_the_first_log(repo, monkeypatch, capsys):
    cfg = config_module.load(cwd=repo)
    for n in (1, 2):
        monkeypatch.setattr("gitorch.stats.compute", lambda *a, n=n, **k: (_ for _ in ()).throw(ValueError(f"n={n}")))
        with pytest.raises(SystemExit):
            main(["stats"])
    capsys.readouterr()
    text = (cfg.state_dir / "crash.log").read_text()
    assert "ValueError: n=2" in text and "n=1" not in text
