"""The learned task-type model: a linear model over hashed words and word pairs of the request's
tokens (``intent.tokens``), plus hand-written intent cues, plus a per-repository residual learned online.

The base model ships inside the package (``model.npz``), trained once on the development set
``routing-tasks.jsonl`` only (see ``gitorch.routing.train``). Nothing is downloaded at run time, and
routing needs only numpy: features are hashed here (CRC-32 of each word and word pair), so the
packaged weights and the features agree without a machine-learning library at run time.

Per repository, feedback teaches a *residual*: sparse weights added to the base model's scores and
updated by one step of multinomial logistic regression per example (the gradient of the combined
model's loss, so the residual only moves where the base model was wrong).
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

from ..errors import GitorchError
from .intent import INTENT_TYPES, cues, review_evidence, tokens

MODEL_FILE = Path(__file__).with_name("model.npz")
# Every type the router outputs; the base model knows the first four, `review` comes from cues and feedback.
TYPES: tuple[str, ...] = (*INTENT_TYPES, "review")
FEATURES = 2**18
START = "^"  # marks the first word, so "add ..." and "... add ..." are different evidence
CUE_WEIGHT = 1.5  # how much the hand-written intent cues count against the learned scores
REVIEW_OFFSET = -2.5  # the base model never saw `review`: it starts this far below the mean score
LEARNING_RATE = 1.0
STATE_VERSION = 2
APPLIED_KEPT = 20_000  # decisions whose lesson is remembered (so feedback on them again changes nothing)


@dataclass
class Features:
    """Hashed features of some texts in compressed-row form: row ``i`` is
    ``indices[indptr[i]:indptr[i+1]]`` with ``values`` at the same places, L2-normalised."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def row(self, i: int) -> Features:
        lo, hi = self.indptr[i], self.indptr[i + 1]
        return Features(np.array([0, hi - lo]), self.indices[lo:hi], self.values[lo:hi])

    def rows(self) -> np.ndarray:
        """The row of every stored value."""
        return np.repeat(np.arange(len(self)), np.diff(self.indptr))

    def times(self, weights: np.ndarray) -> np.ndarray:
        """This matrix times ``weights`` (one row per feature it names, in ``indices`` order)."""
        out = np.zeros((len(self), weights.shape[1]))
        np.add.at(out, self.rows(), weights * self.values[:, None])
        return out


@lru_cache(maxsize=65536)
def _hash(gram: str) -> int:
    return zlib.crc32(gram.encode()) % FEATURES


def _row(text: str) -> tuple[list[int], list[float]]:
    words = [START, *tokens(text)]
    counts: dict[int, int] = {}
    for gram in (*words[1:], *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))):
        index = _hash(gram)
        counts[index] = counts.get(index, 0) + 1
    norm = sum(c * c for c in counts.values()) ** 0.5 or 1.0
    return list(counts), [c / norm for c in counts.values()]


def featurize(texts: list[str]) -> Features:
    """Hashed word and word-pair counts of each text's tokens, one L2-normalised row per text."""
    indptr, indices, values = [0], [], []
    for text in texts:
        index, value = _row(text)
        indices.extend(index)
        values.extend(value)
        indptr.append(len(indices))
    return Features(np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int64),
                    np.array(values, dtype=np.float64))


def cue_matrix(texts: list[str]) -> np.ndarray:
    """Intent cues per text, in ``TYPES`` order (review from ``intent.review_evidence``)."""
    out = np.zeros((len(texts), len(TYPES)), dtype=np.float64)
    for i, text in enumerate(texts):
        found = cues(text)
        out[i, : len(INTENT_TYPES)] = [found[kind] for kind in INTENT_TYPES]
        out[i, len(INTENT_TYPES)] = review_evidence(text)
    return out


def with_cues(raw: np.ndarray, cues: np.ndarray) -> np.ndarray:
    """The linear model's four scores, plus `review` below their mean, plus the weighted intent cues
    (``cue_matrix``)."""
    out = np.empty((len(raw), len(TYPES)))
    out[:, : len(INTENT_TYPES)] = raw
    out[:, len(INTENT_TYPES)] = raw.mean(axis=1) + REVIEW_OFFSET
    return out + CUE_WEIGHT * cues


# -- calibration: what a probability means on text the model did not train on -------------------

CLAUDE_TYPES = ("planning", "review")  # the types Claude takes in a repository with no feedback
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def calibration_inputs(probs: np.ndarray, cues: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the two calibration maps read, per text: for the type, the log-odds of the top type's
    probability and how far its intent cue leads the strongest other cue; for the agent, the
    log-odds of the summed probability of the types whose agent is the suggested one (``group``: a
    boolean row per text) and how far that group's strongest cue leads the other group's."""
    rows = np.arange(len(probs))
    top = probs.argmax(axis=1)
    others = cues.copy()
    others[rows, top] = -np.inf
    type_x = np.c_[_logit(probs[rows, top]), cues[rows, top] - others.max(axis=1)]
    inside = np.where(group, cues, -np.inf).max(axis=1)
    outside = np.where(group, -np.inf, cues).max(axis=1)
    margin = np.nan_to_num(inside - outside, posinf=0.0, neginf=0.0)
    agent_x = np.c_[_logit(np.where(group, probs, 0.0).sum(axis=1)), margin]
    return type_x, agent_x


@dataclass(frozen=True)
class Calibration:
    """Two Platt maps (a logistic regression on the inputs of ``calibration_inputs``), fitted by
    ``train.py`` on out-of-fold scores of the development set and on issue-style text of our own:
    P(top type is right) and P(the suggested agent is right)."""

    type_weights: tuple[float, float, float] = (1.0, 0.0, 0.0)  # identity: a, b, bias
    agent_weights: tuple[float, float, float] = (1.0, 0.0, 0.0)

    @staticmethod
    def _apply(weights: tuple[float, float, float], x: np.ndarray) -> np.ndarray:
        a, b, bias = weights
        return 1 / (1 + np.exp(-(a * x[:, 0] + b * x[:, 1] + bias)))

    def types(self, probs: np.ndarray, type_x: np.ndarray) -> np.ndarray:
        """``probs`` with the top type's probability replaced by its calibrated value and the others
        scaled to share the rest; never so low that another type would overtake it."""
        rows = np.arange(len(probs))
        top = probs.argmax(axis=1)
        p_top = probs[rows, top]
        rest = np.maximum(1 - p_top, _EPS)
        second = np.where(np.eye(probs.shape[1], dtype=bool)[top], 0.0, probs).max(axis=1)
        q = np.maximum(self._apply(self.type_weights, type_x), second / (rest + second) + 1e-6)
        out = probs * ((1 - q) / rest)[:, None]
        out[rows, top] = q
        return out

    def agent(self, agent_x: np.ndarray) -> np.ndarray:
        return self._apply(self.agent_weights, agent_x)

    def as_json(self) -> dict[str, list[float]]:
        return {"type": [round(float(w), 6) for w in self.type_weights],
                "agent": [round(float(w), 6) for w in self.agent_weights]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Calibration:
        if not data:
            return cls()
        return cls(tuple(map(float, data["type"])), tuple(map(float, data["agent"])))  # type: ignore[arg-type]


def reliability(confidences: list[float] | np.ndarray, correct: list[bool] | np.ndarray, bins: int = 10) -> dict[str, Any]:
    """How well probabilities mean what they say: per bin of equal width, the mean probability against
    the share right; the expected calibration error (ECE) is their gap weighted by the bin's share."""
    conf, hit = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    table, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if inside.any():
            gap = abs(conf[inside].mean() - hit[inside].mean())
            ece += inside.mean() * gap
            table.append({"bin": [round(float(lo), 2), round(float(hi), 2)], "count": int(inside.sum()),
                          "mean_probability": round(float(conf[inside].mean()), 4),
                          "accuracy": round(float(hit[inside].mean()), 4)})
    return {"ece": round(float(ece), 4), "mean_probability": round(float(conf.mean()), 4) if len(conf) else None,
            "accuracy": round(float(hit.mean()), 4) if len(hit) else None, "bins": table}


@dataclass
class BaseModel:
    coef: np.ndarray  # (FEATURES, 4) float32
    intercept: np.ndarray  # (4,)
    temperature: float  # scores are divided by this before the softmax (fitted by train.py)
    meta: dict[str, Any]
    calibration: Calibration = Calibration()

    def scores(self, X: Features, texts: list[str], cues: np.ndarray | None = None) -> np.ndarray:
        """Unnormalised log-odds per type in ``TYPES`` order (``cues``: ``cue_matrix(texts)`` if known)."""
        raw = X.times(self.coef[X.indices].astype(np.float64)) + self.intercept
        return with_cues(raw, cue_matrix(texts) if cues is None else cues)


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
        coef = np.zeros((FEATURES, len(INTENT_TYPES)), dtype=np.float32)
        coef[data["rows"]] = data["values"].astype(np.float32)
        intercept = data["intercept"].astype(np.float64)
        meta = json.loads(bytes(data["meta"]).decode())
    if meta.get("features") != FEATURES or meta.get("state_version") != STATE_VERSION:
        raise GitorchError(f"the router's model file {path} was built for other features",
                           hint="rebuild it with 'python -m gitorch.routing.train ../shared/data/routing-tasks.jsonl'")
    return BaseModel(coef=coef, intercept=intercept, temperature=float(meta["temperature"]), meta=meta,
                     calibration=Calibration.from_json(meta.get("calibration")))


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Type probabilities from scores divided by ``temperature``."""
    scores = scores / temperature
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class RepoState:
    """What one repository taught the router: residual weights over features (rows grown on demand),
    and per task type how each agent fared, from outcomes and overrides:
    ``agents[type][agent] = [preferred, successes, failures]``.

    ``applied`` remembers, per decision, the lesson already learned from it (see ``Router.feedback``),
    so that feedback delivered again, or read again from the team, teaches nothing twice;
    ``lessons_after`` is the feedback time (ms) up to which the team's lessons were read."""

    def __init__(self, rows: np.ndarray | None = None, values: np.ndarray | None = None,
                 agents: dict[str, dict[str, list[int]]] | None = None, examples: int = 0,
                 applied: dict[str, dict[str, Any]] | None = None, lessons_after: float = 0.0):
        rows = np.zeros(0, dtype=np.int64) if rows is None else rows.astype(np.int64)
        self._values = np.zeros((max(64, len(rows) * 2), len(TYPES)))
        if values is not None and len(values):
            self._values[: len(rows)] = values
        self._index: dict[int, int] = {int(r): i for i, r in enumerate(rows)}
        self.agents = agents or {}
        self.examples = examples
        self.applied = applied or {}
        self.lessons_after = lessons_after

    @property
    def size(self) -> int:
        return len(self._index)

    def residual_scores(self, X: Features) -> np.ndarray:
        if not self._index:
            return np.zeros((len(X), len(TYPES)))
        slots = np.fromiter((self._index.get(int(j), -1) for j in X.indices), dtype=np.int64, count=len(X.indices))
        weights = np.where((slots >= 0)[:, None], self._values[np.maximum(slots, 0)], 0.0)
        return X.times(weights)

    def learn(self, x: Features, base_scores: np.ndarray, label: str, temperature: float,
              rate: float = LEARNING_RATE) -> None:
        """One gradient step of the combined model's log-loss toward ``label`` for one example."""
        target = np.zeros(len(TYPES))
        target[TYPES.index(label)] = 1.0
        grad = (softmax(base_scores + self.residual_scores(x)[0], temperature) - target) / temperature
        slots = np.array([self._slot(int(j)) for j in x.indices], dtype=np.int64)
        if len(slots):
            self._values[slots] -= rate * np.outer(x.values, grad)
        self.examples += 1

    def _slot(self, feature: int) -> int:
        slot = self._index.get(feature)
        if slot is None:
            slot = self._index[feature] = len(self._index)
            if slot >= len(self._values):
                self._values = np.vstack([self._values, np.zeros_like(self._values)])
        return slot

    def agent_counts(self, task_type: str, agent: str) -> list[int]:
        return self.agents.setdefault(task_type, {}).setdefault(agent, [0, 0, 0])

    def remember(self, decision_id: str, lesson: dict[str, Any]) -> None:
        self.applied.pop(decision_id, None)
        self.applied[decision_id] = lesson
        while len(self.applied) > APPLIED_KEPT:  # the oldest first (dicts keep insertion order)
            del self.applied[next(iter(self.applied))]

    def to_bytes(self) -> bytes:
        rows = np.fromiter(self._index.keys(), dtype=np.int64, count=self.size)
        buf = io.BytesIO()
        np.savez(buf, rows=rows, values=self._values[: self.size].astype(np.float32))
        header = json.dumps({"version": STATE_VERSION, "types": list(TYPES), "agents": self.agents,
                             "examples": self.examples, "applied": self.applied,
                             "lessons_after": self.lessons_after}).encode()
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
                return cls(agents=header.get("agents", {}), applied=header.get("applied", {}),
                           lessons_after=float(header.get("lessons_after", 0.0)))
            with np.load(io.BytesIO(raw[4 + size:])) as data:
                rows, values = data["rows"], data["values"].astype(np.float64)
        except (zlib.error, ValueError, KeyError, OSError) as exc:
            raise GitorchError(f"the router's saved state for this repository is unreadable ({exc})",
                               hint="reset it by deleting its row from the router_state table") from exc
        return cls(rows=rows, values=values, agents=header["agents"], examples=header["examples"],
                   applied=header.get("applied", {}), lessons_after=float(header.get("lessons_after", 0.0)))
