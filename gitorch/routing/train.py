"""Build the packaged base model from the development set (``routing-tasks.jsonl`` only).

    python -m gitorch.routing.train ../shared/data/routing-tasks.jsonl

writes ``gitorch/routing/model.npz``. The held-out file must never be passed here.
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


def fit_temperature(texts: list[str], y: np.ndarray, folds: int = 5) -> float:
    """The temperature that minimises log-loss on out-of-fold scores: a type probability then means
    about what it says on text the model did not train on."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    X = _matrix(learned.featurize(texts))
    cues = learned.cue_matrix(texts)[:, : len(INTENT_TYPES)]
    scores = np.zeros((len(texts), len(INTENT_TYPES)))
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y):
        model = LogisticRegression(C=C, max_iter=3000).fit(X[fit], y[fit])
        scores[held] = model.decision_function(X[held]) + learned.CUE_WEIGHT * cues[held]
    grid = np.arange(0.5, 4.01, 0.05)
    losses = [-np.log(learned.softmax(scores, t)[np.arange(len(y)), y]).mean() for t in grid]
    return round(float(grid[int(np.argmin(losses))]), 2)


def train(data: Path, out: Path = learned.MODEL_FILE) -> dict:
    from sklearn.linear_model import LogisticRegression

    rows = read_labelled(data)
    if "heldout" in data.name:
        raise GitorchError(f"{data.name} is the held-out set", hint="train on routing-tasks.jsonl; held-out is for reporting")
    texts = [r["text"] for r in rows]
    y = np.array([INTENT_TYPES.index(r["label"]) for r in rows])
    model = LogisticRegression(C=C, max_iter=3000).fit(_matrix(learned.featurize(texts)), y)
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
        "temperature": fit_temperature(texts, y),
    }
    learned.save_base(out, model.coef_.T.astype(np.float32), model.intercept_, meta)
    learned.load_base.cache_clear()
    return meta


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/routing-tasks.jsonl")
    print(json.dumps(train(source), indent=2))
