"""The ``neighbours`` strategy: the packaged model moved by this repository's own history.

Each past decision whose feedback told its task type (``shadow.truth``) is remembered with that type.
A new request is compared with them (cosine similarity of the same hashed word and word-pair features
the learned model reads, folded into ``DIMENSIONS`` buckets so the comparison is one small matrix
product), and its type probabilities are the packaged model's, as ``PRIOR`` pseudo-votes, plus one
vote of weight similarity² for each of its ``K`` nearest neighbours at least ``MIN_SIMILARITY`` alike.

Unlike ``learned``, which moves shared word weights by a gradient step per lesson, this remembers
examples: a request phrased like one a person corrected last week gets that correction back at once,
and an unlike request is left to the packaged model. With no history it is the packaged model alone.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..model import RoutingDecision
from . import learned

MEMORY = 1000  # the newest decisions with feedback it remembers
DIMENSIONS = 4096
K = 10
MIN_SIMILARITY = 0.3
PRIOR = 1.0


def fold(X: learned.Features) -> np.ndarray:
    """Dense rows of ``X`` with the features folded into ``DIMENSIONS`` buckets, L2-normalised."""
    flat = X.rows() * DIMENSIONS + X.indices % DIMENSIONS
    out = np.bincount(flat, weights=X.values, minlength=len(X) * DIMENSIONS).astype(np.float32)
    out = out.reshape(len(X), DIMENSIONS)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


class Memory:
    """Past requests of one repository with the task type feedback told, one slot per decision."""

    def __init__(self) -> None:
        self._slot: dict[str, int] = {}
        self._rows = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self._labels = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._slot)

    @classmethod
    def from_decisions(cls, decisions: Iterable[RoutingDecision]) -> Memory:
        memory = cls()
        memory.remember(list(decisions))
        return memory

    def remember(self, decisions: list[RoutingDecision]) -> None:
        """Add or replace the lesson of each decision (the same decision twice counts once)."""
        from .shadow import truth

        known = [(d, truth(d).task_type) for d in decisions]
        known = [(d, t) for d, t in known if t in learned.TYPES]
        if not known:
            return
        rows = fold(learned.featurize([d.text for d, _ in known]))
        needed = len(self._slot) + len(known)
        if needed > len(self._labels):  # grow by doubling
            size = max(64, needed, 2 * len(self._labels))
            self._rows = np.vstack([self._rows, np.zeros((size - len(self._rows), DIMENSIONS), np.float32)])
            self._labels = np.concatenate([self._labels, np.zeros(size - len(self._labels), np.int64)])
        for (decision, task_type), row in zip(known, rows, strict=True):
            slot = self._slot.setdefault(decision.id, len(self._slot))
            self._rows[slot] = row
            self._labels[slot] = learned.TYPES.index(task_type)

    def vote(self, X: learned.Features, prior: np.ndarray) -> np.ndarray:
        """Type probabilities: ``prior`` (one row per text) as ``PRIOR`` votes plus the neighbours'."""
        if not len(self):
            return prior
        queries = fold(X)
        remembered = self._rows[: len(self)]
        votes = PRIOR * prior
        k = min(K, len(self))
        for i, query in enumerate(queries):
            used = np.flatnonzero(query)  # a request has a few dozen buckets: compare only those
            similarity = remembered[:, used] @ query[used]
            nearest = np.argpartition(-similarity, k - 1)[:k]
            alike = similarity[nearest]
            keep = alike >= MIN_SIMILARITY
            np.add.at(votes[i], self._labels[nearest[keep]], alike[keep] ** 2)
        return votes / votes.sum(axis=1, keepdims=True)
