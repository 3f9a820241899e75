"""Secrets never leave in text: token shapes, known values, .env values, records and logs."""

from __future__ import annotations

import logging

import pytest

from gitorch.redact import MASK, Redactor, env_values, install_log_redaction, redact


@pytest.mark.parametrize("secret", [
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
    "ghp_0123456789abcdefghijABCDEFGHIJ",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "xoxb-1234567890-abcdefghij",
])
def test_token_shapes_are_masked(secret):
    assert redact(f"use {secret} here") == f"use {MASK} here"


def test_quoted_values_of_secret_names_are_masked_but_names_kept():
    text = 'API_KEY = "q8w7e6r5t4y3"\npassword: \'hunter2hunter2\'\ntimeout = "30"'
    assert redact(text) == f'API_KEY = "{MASK}"\npassword: \'{MASK}\'\ntimeout = "30"'


def test_known_values_are_masked_longest_first():
    assert redact("a secretvalue-long and secretvalue", ["secretvalue", "secretvalue-long"]) == f"a {MASK} and {MASK}"
    assert redact("short abc stays", ["abc"]) == "short abc stays"  # too short to be a secret


def test_env_values_keep_secrets_and_skip_ordinary_settings():
    text = ("# comment\nexport DATABASE_URL='postgres://u:p4ss@db/app'\nDEBUG=true\nPORT=8080\n"
            "API_TOKEN=\"tok-123456\"\nRANDOM_ID=a1b2c3d4e5f6g7h8i9\nNAME=service  # inline\n")
    assert env_values(text) == ["postgres://u:p4ss@db/app", "tok-123456", "a1b2c3d4e5f6g7h8i9"]


def test_redactor_cleans_nested_records():
    redactor = Redactor(["very-secret-value"])
    record = {"prompt": "key very-secret-value", "parts": ["ghp_0123456789abcdefghijABCDEFGHIJ", 3],
              "meta": {"n": 1}}
    assert redactor.record(record) == {"prompt": f"key {MASK}", "parts": [MASK, 3], "meta": {"n": 1}}


def test_log_records_are_redacted_for_every_logger(caplog):
    install_log_redaction(Redactor(["log-secret-123456"]))
    with caplog.at_level(logging.INFO):
        logging.getLogger("gitorch.claude").info("sending %s", "log-secret-123456")
        logging.getLogger("httpx2").info("auth sk-ant-api03-abcdefghijklmnopqrstuvwxyz")
    assert "log-secret-123456" not in caplog.text and "sk-ant-api03" not in caplog.text
    assert caplog.text.count(MASK) == 2
