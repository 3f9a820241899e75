"""The learned task-type model: a linear model over hashed words and character n-grams of the
normalised text, plus hand-written intent cues, plus a per-repository residual learned online.

The base model ships inside the package (``model.npz``), trained once on the development set
``routing-tasks.jsonl`` only (see ``gitorch.routing.train``). Nothing is downloaded at run time.

Per repository, feedback teaches a *residual*: sparse weights added to the base model's scores and
updated by one step of multinomial logistic regression per example (the gradient of the combined
model's loss, so the residual only moves where the base model was wrong). scikit-learn's
``partial_fit`` learners cannot learn on top of a fixed model's scores, which is why this small
update is written out here; scikit-learn does the feature hashing and the base model's training.
"""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import GitorchError
from .intent import INTENT_TYPES, cues, normalize

MODEL_FILE = Path(__file__).with_name("model.npz")
# Every type the router outputs; the base model knows the first four, `review` comes from cues and feedback.
TYPES: tuple[str, ...] = (*INTENT_TYPES, "review")
WORD_FEATURES = 2**18
CHAR_FEATURES = 2**18
CUE_WEIGHT = 1.5  # how much the hand-written intent cues count against the learned scores
REVIEW_OFFSET = -2.5  # the base model never saw `review`: it starts this far below the mean score
LEARNING_RATE = 1.0
# Scores are divided by this before the softmax: fitted by log-loss on 5-fold out-of-fold scores of the
# development set, so a type probability means about what it says on text the model did not train on.
TEMPERATURE = 1.4
STATE_VERSION = 1


@lru_cache(maxsize=1)
def _vectorizers():
    from sklearn.feature_extraction.text import HashingVectorizer

    words = HashingVectorizer(n_features=WORD_FEATURES, ngram_range=(1, 2), alternate_sign=False, norm="l2",
                              token_pattern=r"(?u)\b\w+\b", lowercase=False)
    chars = HashingVectorizer(n_features=CHAR_FEATURES, analyzer="char_wb", ngram_range=(3, 5),
                              alternate_sign=False, norm="l2", lowercase=False)
    return words, chars


def featurize(texts: list[str]) -> sp.csr_matrix:
    """Hashed features of the normalised texts, one L2-normalised row per text."""
    from sklearn.preprocessing import normalize as l2

    words, chars = _vectorizers()
    normal = [normalize(t) for t in texts]
    return l2(sp.hstack([words.transform(normal), chars.transform(normal)], format="csr"))


def cue_matrix(texts: list[str]) -> np.ndarray:
    """Intent cues per text, in ``TYPES`` order (review cues are read by the router's review check)."""
    out = np.zeros((len(texts), len(TYPES)), dtype=np.float64)
    for i, text in enumerate(texts):
        found = cues(text)
        for j, kind in enumerate(INTENT_TYPES):
            out[i, j] = found[kind]
    return out


@dataclass
class BaseModel:
    coef: np.ndarray  # (features, 4) float32
    intercept: np.ndarray  # (4,)
    meta: dict[str, Any]

    def scores(self, X: sp.csr_matrix, texts: list[str]) -> np.ndarray:
        """Unnormalised log-odds per type in ``TYPES`` order."""
        raw = np.asarray(X @ self.coef, dtype=np.float64) + self.intercept
        out = np.empty((X.shape[0], len(TYPES)))
        out[:, : len(INTENT_TYPES)] = raw
        out[:, len(INTENT_TYPES)] = raw.mean(axis=1) + REVIEW_OFFSET
        out += CUE_WEIGHT * cue_matrix(texts)
        out[:, len(INTENT_TYPES)] += CUE_WEIGHT * np.array([review_cue(t) for t in texts])
        return out


def review_cue(text: str) -> float:
    from .intent import review_evidence

    return review_evidence(text)


def save_base(path: Path, coef: np.ndarray, intercept: np.ndarray, meta: dict[str, Any]) -> None:
    """Store only the non-zero rows, in float16: the file stays small."""
    rows = np.flatnonzero(np.abs(coef).sum(axis=1) > 0).astype(np.int32)
    np.savez_compressed(path, rows=rows, values=coef[rows].astype(np.float16), intercept=intercept.astype(np.float32),
                        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


@lru_cache(maxsize=2)
def load_base(path: Path = MODEL_FILE) -> BaseModel:
    if not path.exists():
        raise GitorchError(f"the router's model file {path} is missing",
                           hint="reinstall gitorch, or rebuild it with 'python -m gitorch.routing.train'")
    with np.load(path) as data:
        coef = np.zeros((WORD_FEATURES + CHAR_FEATURES, len(INTENT_TYPES)), dtype=np.float32)
        coef[data["rows"]] = data["values"].astype(np.float32)
        meta = json.loads(bytes(data["meta"]).decode())
        return BaseModel(coef=coef, intercept=data["intercept"].astype(np.float64), meta=meta)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Type probabilities from scores (tempered by ``TEMPERATURE``)."""
    scores = scores / TEMPERATURE
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class RepoState:
    """What one repository taught the router: residual weights over features (rows grown on demand),
    and per task type how each agent fared, from outcomes and overrides:
    ``agents[type][agent] = [preferred, successes, failures]``."""

    def __init__(self, rows: np.ndarray | None = None, values: np.ndarray | None = None,
                 agents: dict[str, dict[str, list[int]]] | None = None, examples: int = 0):
        rows = np.zeros(0, dtype=np.int64) if rows is None else rows.astype(np.int64)
        self._values = np.zeros((max(64, len(rows) * 2), len(TYPES)))
        if values is not None and len(values):
            self._values[: len(rows)] = values
        self._index: dict[int, int] = {int(r): i for i, r in enumerate(rows)}
        self.agents = agents or {}
        self.examples = examples
        self._matrix: sp.csr_matrix | None = None

    @property
    def size(self) -> int:
        return len(self._index)

    def residual_scores(self, X: sp.csr_matrix) -> np.ndarray:
        if not self._index:
            return np.zeros((X.shape[0], len(TYPES)))
        if self._matrix is None or self._matrix.shape[0] != X.shape[1]:
            rows = np.fromiter(self._index.keys(), dtype=np.int64, count=self.size)
            values = self._values[: self.size]
            self._matrix = sp.csr_matrix(
                (values.ravel(), (np.repeat(rows, len(TYPES)), np.tile(np.arange(len(TYPES)), self.size))),
                shape=(X.shape[1], len(TYPES)))
        return (X @ self._matrix).toarray()

    def learn(self, x: sp.csr_matrix, base_scores: np.ndarray, label: str, rate: float = LEARNING_RATE) -> None:
        """One gradient step of the combined model's log-loss toward ``label`` for one example."""
        target = np.zeros(len(TYPES))
        target[TYPES.index(label)] = 1.0
        grad = (softmax(base_scores + self.residual_scores(x)[0]) - target) / TEMPERATURE
        row = x.getrow(0)
        slots = np.array([self._slot(int(j)) for j in row.indices], dtype=np.int64)
        if len(slots):
            self._values[slots] -= rate * np.outer(row.data, grad)
        self.examples += 1
        self._matrix = None

    def _slot(self, feature: int) -> int:
        slot = self._index.get(feature)
        if slot is None:
            slot = self._index[feature] = len(self._index)
            if slot >= len(self._values):
                self._values = np.vstack([self._values, np.zeros_like(self._values)])
        return slot

    def agent_counts(self, task_type: str, agent: str) -> list[int]:
        return self.agents.setdefault(task_type, {}).setdefault(agent, [0, 0, 0])

    def to_bytes(self) -> bytes:
        rows = np.fromiter(self._index.keys(), dtype=np.int64, count=self.size)
        buf = io.BytesIO()
        np.savez(buf, rows=rows, values=self._values[: self.size].astype(np.float32))
        header = json.dumps({"version": STATE_VERSION, "types": list(TYPES), "agents": self.agents,
                             "examples": self.examples}).encode()
        return zlib.compress(len(header).to_bytes(4, "big") + header + buf.getvalue(), 1)

    @classmethod
    def from_bytes(cls, blob: bytes | None) -> RepoState:
        if not blob:
            return cls()
        try:
            raw = zlib.decompress(blob)
            size = int.from_bytes(raw[:4], "big")
            header = json.loads(raw[4: 4 + size])
            if header.get("version") != STATE_VERSION or header.get("types") != list(TYPES):
                return cls(agents=header.get("agents", {}))
            with np.load(io.BytesIO(raw[4 + size:])) as data:
                rows, values = data["rows"], data["values"].astype(np.float64)
        except (zlib.error, ValueError, KeyError, OSError) as exc:
            raise GitorchError(f"the router's saved state for this repository is unreadable ({exc})",
                               hint="reset it by deleting its row from the router_state table") from exc
        return cls(rows=rows, values=values, agents=header["agents"], examples=header["examples"])
