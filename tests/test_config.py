"""Configuration: defaults, the file, environment overrides, and errors that name the key."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from click.testing import CliRunner

from gitorch import config
from gitorch.cli import cli
from gitorch.errors import ConfigError


def test_defaults_without_a_file(repo):
    cfg = config.load(env={})
    assert cfg.routing.min_confidence_for_auto == 0.8
    assert cfg.budget.monthly_usd == 100.0
    assert cfg.agents.builder == "chatgpt-pro"
    assert cfg.repo_root == repo
    assert cfg.state_dir == repo / ".git" / "gitorch"


def test_file_overrides_defaults_and_env_overrides_file(repo):
    (repo / ".gitorch.yml").write_text("budget:\n  monthly_usd: 40\nrouting:\n  auto: false\n")
    cfg = config.load(env={})
    assert cfg.budget.monthly_usd == 40
    assert cfg.routing.auto is False
    cfg = config.load(env={"MONTHLY_BUDGET_USD": "25.5", "AUTO_ROUTING_ENABLED": "true",
                           "ENABLE_LEARNING": "0", "MIN_CONFIDENCE_FOR_AUTO": "0.9"})
    assert cfg.budget.monthly_usd == 25.5
    assert cfg.routing.auto is True
    assert cfg.routing.learning is False
    assert cfg.routing.min_confidence_for_auto == 0.9


def test_remote_addresses_come_from_the_environment(repo):
    cfg = config.load(env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "GITHUB_API_URL": "http://127.0.0.1:8",
                           "CONVEX_URL": "http://127.0.0.1:7", "CHATGPT_URL": "http://127.0.0.1:6/"})
    assert cfg.anthropic.base_url == "http://127.0.0.1:9"
    assert cfg.github.api_url == "http://127.0.0.1:8"
    assert cfg.convex.url == "http://127.0.0.1:7"
    assert cfg.browser.url == "http://127.0.0.1:6/"


def test_secrets_come_only_from_the_environment_and_never_print(repo):
    cfg = config.load(env={"CLAUDE_API_KEY": "sk-ant-secret-value-123456"})
    assert cfg.secrets.anthropic_api_key.get_secret_value() == "sk-ant-secret-value-123456"
    assert "sk-ant-secret" not in repr(cfg) and "sk-ant-secret" not in cfg.model_dump_json()
    (repo / ".gitorch.yml").write_text("secrets:\n  anthropic_api_key: sk-ant-in-a-file\n")
    with pytest.raises(ConfigError, match="unknown key 'secrets'"):
        config.load(env={})


def test_gitorch_home_moves_the_state(repo, tmp_path):
    cfg = config.load(env={"GITORCH_HOME": str(tmp_path / "state")})
    assert cfg.db_path == tmp_path / "state" / "state.db"


def test_worktree_shares_the_main_repositorys_state(repo, tmp_path):
    wt = tmp_path / "wt"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", str(wt)], check=True)
    assert config.load(cwd=wt, env={}).state_dir == repo / ".git" / "gitorch"


def test_broken_yaml_names_the_line(repo):
    (repo / ".gitorch.yml").write_text("routing:\n  auto: true\n   learning: false\n")
    with pytest.raises(ConfigError) as err:
        config.load(env={})
    assert "line 3" in err.value.message and err.value.hint


def test_wrong_type_names_key_value_and_what_is_allowed(repo):
    (repo / ".gitorch.yml").write_text("pre_push:\n  review: sometimes\n")
    with pytest.raises(ConfigError) as err:
        config.load(env={})
    text = err.value.message
    assert "'pre_push.review' = 'sometimes'" in text
    assert "'block', 'warn' or 'off'" in text


def test_out_of_range_number(repo):
    (repo / ".gitorch.yml").write_text("routing:\n  min_confidence_for_auto: 1.5\n")
    with pytest.raises(ConfigError, match=r"routing.min_confidence_for_auto.*less than or equal to 1"):
        config.load(env={})


def test_unknown_key_suggests_the_close_one(repo):
    (repo / ".gitorch.yml").write_text("budget:\n  monthly_usdd: 10\n")
    with pytest.raises(ConfigError, match="Did you mean 'monthly_usd'"):
        config.load(env={})


def test_bad_environment_value_names_the_variable(repo):
    with pytest.raises(ConfigError, match="environment variable MONTHLY_BUDGET_USD"):
        config.load(env={"MONTHLY_BUDGET_USD": "lots"})


def test_a_file_that_is_not_a_mapping(repo):
    (repo / ".gitorch.yml").write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        config.load(env={})


def test_init_writes_a_commented_file_that_loads_to_the_defaults(repo):
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    text = (repo / ".gitorch.yml").read_text()
    assert "# spending limits" in text and "[MONTHLY_BUDGET_USD]" in text
    loaded = config.Config.model_validate(yaml.safe_load(text))
    assert loaded.model_dump() == config.Config().model_dump()
    workflow = (repo / ".github" / "workflows" / "gitorch.yml").read_text()
    assert "runs-on: [self-hosted, gitorch]" in workflow
    assert "# ID:" in (repo / ".git" / "hooks" / "pre-push").read_text()


def test_init_refuses_to_overwrite(repo):
    (repo / ".gitorch.yml").write_text("routing:\n  auto: false\n")
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code != 0
    assert (repo / ".gitorch.yml").read_text() == "routing:\n  auto: false\n"


def test_a_retired_key_from_an_older_init_still_loads_with_a_warning(repo, caplog):
    (repo / ".gitorch.yml").write_text("models:\n  classify: claude-haiku-5-5\n  plan: claude-opus-5-5\n")
    with caplog.at_level("WARNING", logger="gitorch.config"):
        cfg = config.load(cwd=repo, env={})
    assert cfg.models.plan == "claude-opus-5-5" and "classify" not in cfg.models.model_dump()
    assert "models.classify" in caplog.text and "remove the line" in caplog.text
