"""Values as the store keeps and checks them: exact sums of money and time, and the ids and numbers
a lookup accepts."""

from __future__ import annotations

from typing import Any

from ..errors import GitorchError

# Sums of money and time are made of whole numbers of small units, so that they are exact and the
# same in any order: a float sum depends on the order of its terms, and a figure rounded to 6
# decimals can flip with it (costs are decimal amounts, so ties at the 7th decimal are common).
# Exact while one call costs under $9,000 and lasts under 100 days (2**53 units); a sum holds up to
# $9.2 million and 292 years (2**63).
PICO = 10**12  # units per USD
NANO = 10**9  # units per second


def units(value: float, scale: int) -> int:
    """``value`` as a whole number of ``1/scale`` units, rounded half away from zero (the SQL of
    ``gitorch.store.sqlite`` rounds the same way)."""
    return int(value * scale + (-0.5 if value < 0 else 0.5))


# Sums in units, and the fields they are returned as.
UNIT_SUMS = {"cost_pico": ("cost_usd", PICO), "baseline_pico": ("baseline_cost_usd", PICO),
             "duration_ns": ("duration_s", NANO)}


def from_units(sums: Any) -> dict[str, Any]:
    """A row of sums (a dict or an ``sqlite3.Row``) with those kept in units (``UNIT_SUMS``) back in
    USD and seconds; the other fields as they are, in their order."""
    out = {}
    for key in sums.keys():
        name, scale = UNIT_SUMS.get(key, (key, None))
        out[name] = sums[key] if scale is None else sums[key] / scale
    return out


def check_run_id(run_id: Any) -> str:
    """A run id a lookup can use; a missing one would silently match every run's rows, or none."""
    if not isinstance(run_id, str) or not run_id:
        raise GitorchError(f"a run id must be a non-empty string, not {run_id!r}",
                           hint="pass the id of a run, as 'gitorch run --json' or the dashboard shows it")
    return run_id


def check_pr_number(pr_number: Any) -> int:
    """A pull request number a lookup can use."""
    if isinstance(pr_number, bool) or not isinstance(pr_number, int) or pr_number < 1:
        raise GitorchError(f"a pull request number must be a positive integer, not {pr_number!r}",
                           hint="pass the number GitHub shows after '#'")
    return pr_number
