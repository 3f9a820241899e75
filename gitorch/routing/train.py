"""Build the packaged base model from the development set (``routing-tasks.jsonl`` only).

    python -m gitorch.routing.train ../shared/data/routing-tasks.jsonl

writes ``gitorch/routing/model.npz``: the model, its softmax temperature and the calibration of its
probabilities (``learned.Calibration``), fitted on out-of-fold scores of the development set and on
``issues-calibration.jsonl`` (issue-style requests written for this, 50 per type). The held-out file
must never be passed here, nor any file bench/routing.py reports on.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..errors import GitorchError
from . import learned
from .batch import read_rows
from .intent import INTENT_TYPES

# Inverse regularisation. It and the features (words and word pairs, identifiers masked, no character
# n-grams) were chosen by 5-fold cross-validation on the development set and on a tuning set of commit
# subjects and design-proposal summaries from other public projects; never on the held-out file.
C = 3.0
# Issue-style requests written for calibration only (not the files bench/routing.py reports on).
ISSUES_FILE = Path(__file__).with_name("issues-calibration.jsonl")
BENCH_DATA = Path(__file__).resolve().parents[2] / "bench" / "data"  # what bench/routing.py reports on


_SHAPE = 'each line must be an object like {"text": "...", "label": "debugging"}'


def read_labelled(path: Path) -> list[dict]:
    """Rows of ``{"text", "label"}`` from a JSON Lines file; a bad line is named."""
    rows = []
    for number, row, _line in read_rows(path, _SHAPE):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or row.get("label") not in learned.TYPES:
            raise GitorchError(f"{path} line {number} needs a string 'text' and a 'label' in {', '.join(learned.TYPES)}",
                               hint=_SHAPE)
        rows.append(row)
    return rows


def _matrix(X: learned.Features):
    from scipy.sparse import csr_matrix

    return csr_matrix((X.values, X.indices, X.indptr), shape=(len(X), learned.FEATURES))


def oof_scores(texts: list[str], y: np.ndarray, folds: int = 5) -> np.ndarray:
    """Scores (cues included, every type of ``learned.TYPES``) of each row by a model that did not
    train on it: ``folds``-fold cross-fitting of the development set."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    X = _matrix(learned.featurize(texts))
    cues = learned.cue_matrix(texts)
    scores = np.zeros((len(texts), len(learned.TYPES)))
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y):
        model = LogisticRegression(C=C, max_iter=3000).fit(X[fit], y[fit])
        scores[held] = learned.with_cues(model.decision_function(X[held]), cues[held])
    return scores


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises log-loss on out-of-fold scores of the four trained types."""
    four = scores[:, : len(INTENT_TYPES)]
    grid = np.arange(0.5, 4.01, 0.05)
    losses = [-np.log(learned.softmax(four, t)[np.arange(len(y)), y]).mean() for t in grid]
    return round(float(grid[int(np.argmin(losses))]), 2)


def _platt(x: np.ndarray, right: np.ndarray, weight: np.ndarray) -> tuple[float, float, float]:
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=1e4, max_iter=3000).fit(x, right, sample_weight=weight)
    return float(fitted.coef_[0, 0]), float(fitted.coef_[0, 1]), float(fitted.intercept_[0])


def fit_calibration(parts: list[tuple[np.ndarray, np.ndarray, list[str]]], temperature: float) -> learned.Calibration:
    """Platt maps of P(top type right) and P(agent right) over several sources of (scores, labels,
    texts), each source weighing the same in total (a development set ten times larger than the
    issue-style file does not drown it). The agent is judged through the mapping of a repository
    with no feedback: Claude for planning and review, the builder for the rest."""
    claude = np.array([t in learned.CLAUDE_TYPES for t in learned.TYPES])
    type_xs, agent_xs, type_right, agent_right, weights = [], [], [], [], []
    for scores, y, texts in parts:
        probs = learned.softmax(scores, temperature)
        top = probs.argmax(axis=1)
        group = claude[None, :] == claude[top][:, None]
        type_x, agent_x = learned.calibration_inputs(probs, learned.cue_matrix(texts), group)
        type_xs.append(type_x)
        agent_xs.append(agent_x)
        type_right.append(top == y)
        agent_right.append(claude[top] == claude[y])
        weights.append(np.full(len(y), 1.0 / len(y)))
    weight = np.concatenate(weights) * sum(len(w) for w in weights) / len(weights)
    return learned.Calibration(_platt(np.concatenate(type_xs), np.concatenate(type_right), weight),
                               _platt(np.concatenate(agent_xs), np.concatenate(agent_right), weight))


def train(data: Path, out: Path = learned.MODEL_FILE, issues: Path = ISSUES_FILE) -> dict:
    """Fit the model on ``data``, its temperature and calibration on out-of-fold scores of ``data``
    and on the issue-style requests in ``issues`` (scored by the model fitted on all of ``data``)."""
    if "heldout" in data.name:
        raise GitorchError(f"{data.name} is the held-out set", hint="train on routing-tasks.jsonl; held-out is for reporting")
    if "heldout" in issues.name or issues.resolve().parent == BENCH_DATA:
        raise GitorchError(f"{issues} is a file the benchmark reports on, so calibrating on it would flatter it",
                           hint=f"calibrate on {ISSUES_FILE.name} (issue-style requests written for calibration)")
    from sklearn.linear_model import LogisticRegression

    rows = read_labelled(data)
    texts = [r["text"] for r in rows]
    y = np.array([INTENT_TYPES.index(r["label"]) for r in rows])
    model = LogisticRegression(C=C, max_iter=3000).fit(_matrix(learned.featurize(texts)), y)
    oof = oof_scores(texts, y)
    temperature = fit_temperature(oof, y)
    own = read_labelled(issues)
    own_texts = [r["text"] for r in own]
    own_scores = learned.with_cues(model.decision_function(_matrix(learned.featurize(own_texts))),
                                   learned.cue_matrix(own_texts))
    own_y = np.array([learned.TYPES.index(r["label"]) for r in own])
    calibration = fit_calibration([(oof, y, texts), (own_scores, own_y, own_texts)], temperature)
    meta = {
        "trained_on": data.name,
        "rows": len(rows),
        "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "trained_at": datetime.now(UTC).date().isoformat(),
        "classes": list(INTENT_TYPES),
        "features": learned.FEATURES,
        "state_version": learned.STATE_VERSION,
        "C": C,
        "cue_weight": learned.CUE_WEIGHT,
        "temperature": temperature,
        "calibration": calibration.as_json(),
        "calibrated_on": {data.name: "5-fold out-of-fold scores", issues.name: len(own)},
        "calibration_sha256": hashlib.sha256(issues.read_bytes()).hexdigest(),
    }
    learned.save_base(out, model.coef_.T.astype(np.float32), model.intercept_, meta)
    learned.load_base.cache_clear()
    return meta


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/routing-tasks.jsonl")
    print(json.dumps(train(source), indent=2))
