"""`gitorch doctor`: each check says ok, warn or fail, and what to do about it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from ..errors import GitorchError
from ..model import Check


def _config_check() -> tuple[Check, object | None]:
    from .. import config

    try:
        cfg = config.load()
    except GitorchError as exc:
        return Check("config", "fail", exc.message, exc.hint or ""), None
    if cfg.repo_root is None:
        return Check("config", "ok", "defaults (not in a repository)"), cfg
    path = cfg.repo_root / config.CONFIG_FILE
    if not path.exists():
        return Check("config", "ok", f"defaults (no {config.CONFIG_FILE}; 'gitorch init' writes one)"), cfg
    return Check("config", "ok", f"loaded from {path}"), cfg


def _store_check(cfg) -> Check:
    from ..store import open_store

    try:
        store = open_store(cfg)
        store.close()
    except Exception as exc:  # any failure to open is worth reporting, not crashing on
        return Check("store", "fail", f"{cfg.db_path}: {exc}", "check that the folder is writable or set GITORCH_HOME")
    return Check("store", "ok", str(cfg.db_path))


def _anthropic_check(cfg) -> Check:
    if cfg.secrets.anthropic_api_key is None:
        return Check("anthropic key", "warn", "ANTHROPIC_API_KEY is not set",
                     "export ANTHROPIC_API_KEY=sk-ant-... (gitorch demo works without it)")
    where = cfg.anthropic.base_url or "api.anthropic.com"
    return Check("anthropic key", "ok", f"set; requests go to {where}")


def _models_check(cfg) -> Check:
    from ..cost import PriceTable, deprecation_warnings

    try:
        warnings = deprecation_warnings(cfg)
        table = PriceTable.from_config(cfg)
        for _, model in cfg.models.in_use():
            table.price(model)
    except GitorchError as exc:
        return Check("models", "fail", exc.message, exc.hint or "")
    if warnings:
        return Check("models", "warn", "; ".join(warnings), "choose a current model id in .gitorch.yml 'models:'")
    ladder = cfg.models.ladder
    used = (f"ladder {' > '.join(ladder.rungs)}" if ladder.enabled
            else f"plan {cfg.models.plan}, review {cfg.models.review} (ladder off)")
    return Check("models", "ok", f"{used}, build {cfg.models.build}")


def _browser_check(cfg) -> Check:
    exe = Path(cfg.browser.executable)
    if not exe.exists() and not shutil.which(cfg.browser.executable):
        return Check("chromium", "warn", f"{exe} not found", "apt-get install chromium, or set browser.executable")
    return Check("chromium", "ok", str(exe))


def _session_check(cfg) -> Check:
    """Opens the saved profile on the ChatGPT page: logged in, and every selector still matches."""
    if cfg.agents.builder != "chatgpt-pro" and "chatgpt-pro" not in cfg.agents.fallback:
        return Check("chatgpt session", "ok", "the browser builder is not used")
    if not Path(cfg.browser.session_dir).expanduser().exists():
        return Check("chatgpt session", "warn", f"no browser profile at {cfg.browser.session_dir}",
                     "run 'gitorch browser login' once on a machine with a screen (see docs/browser.md)")
    from ..agents.browser import check_session

    try:
        logged_in, missing = check_session(cfg)
    except GitorchError as exc:
        return Check("chatgpt session", "fail", exc.message, exc.hint or "")
    if not logged_in:
        return Check("chatgpt session", "fail", f"the session at {cfg.browser.url} has expired",
                     "run 'gitorch browser login' again")
    if missing:
        return Check("chatgpt session", "fail", f"logged in, but selectors match nothing: {', '.join(missing)}",
                     "the page changed: override them under browser.selectors in .gitorch.yml")
    return Check("chatgpt session", "ok", f"logged in at {cfg.browser.url}; selectors match")


def _codex_check(cfg) -> Check:
    if cfg.agents.builder != "codex" and "codex" not in cfg.agents.fallback:
        return Check("codex", "ok", "the Codex builder is not used")
    from ..agents.codex import codex_check

    return codex_check(cfg)


def _convex_check(cfg) -> Check:
    from ..store.convex import doctor_check

    return doctor_check(cfg)


def _github_check(cfg) -> Check:
    setting = ("with the workflow's GITHUB_TOKEN, the repository must allow GitHub Actions to create pull "
               "requests: Settings > Actions > General > Workflow permissions")
    if cfg.secrets.github_token is None:
        return Check("github token", "warn", "GITHUB_TOKEN is not set",
                     f"needed only for GitHub mode (the Action sets it); {setting}")
    return Check("github token", "ok", f"set; API at {cfg.github.api_url}", setting)


CHECKS: list[Callable] = [_store_check, _models_check, _anthropic_check, _browser_check, _session_check, _codex_check,
                          _github_check, _convex_check]


def run_checks() -> list[Check]:
    first, cfg = _config_check()
    if cfg is None:
        return [first]
    return [first, *(check(cfg) for check in CHECKS)]
