"""The issue's performance targets, judged on one benchmark run (PASS/FAIL lines, never tests)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Target", "judge"]


@dataclass(frozen=True, slots=True)
class Target:
    """One target on one case: ``value`` against ``limit`` (``at_most`` or at least)."""

    case: str
    name: str
    value: float | None
    limit: float
    at_most: bool
    note: str = ""

    @property
    def passed(self) -> bool | None:
        """None when the value could not be measured."""
        if self.value is None:
            return None
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def to_dict(self) -> dict[str, Any]:
        """For the results file."""
        return {**asdict(self), "passed": self.passed}


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def judge(case: dict[str, Any]) -> list[Target]:
    """Every target that applies to a case's results."""
    name = case["name"]
    g, f, s = case["gridsim"], case["gridsim_filter"], case["stonesoup"]
    out = [
        Target(
            name,
            "rmse / PCRLB (tracker, on its own samples)",
            _ratio(g["rmse_m"], g["pcrlb_on_samples_m"]),
            1.3,
            at_most=True,
        )
    ]
    if s["rmse_m"] is not None:
        out += [
            Target(
                name,
                "rmse / Stone Soup EKF (tracker)",
                _ratio(g["rmse_same_threats_m"], s["rmse_m"]),
                1.05,
                at_most=True,
                note="Stone Soup is given each threat's reports; the tracker associates them itself",
            ),
            Target(
                name,
                "rmse / Stone Soup EKF (filter, same reports)",
                _ratio(f["rmse_m"], s["rmse_m"]),
                1.05,
                True,
            ),
            Target(
                name,
                "Stone Soup us / gridsim us (filter)",
                _ratio(s["us_per_update"], f["us_per_update"]),
                10.0,
                at_most=False,
            ),
        ]
    if s["us_per_update"] is not None and g["threats"] == 1:
        out.append(
            Target(
                name,
                "Stone Soup us / gridsim us (tracker)",
                _ratio(s["us_per_update"], g["us_per_update"]),
                10.0,
                at_most=False,
            )
        )
    gnn = s.get("gnn")
    if gnn is not None:
        out.append(
            Target(
                name,
                f"Stone Soup GNN us / gridsim tracker us ({gnn['tracks']} tracks, same reports)",
                _ratio(gnn["us_per_report"], gnn["gridsim_us_same_reports"]),
                10.0,
                at_most=False,
            )
        )
    if g["threats"] > 1 and case["case"]["clutter_per_scan"] > 0:
        out += [
            Target(name, "threats located (all)", float(g["located"]), float(g["threats"]), at_most=False),
            Target(name, "id switches per threat (max)", float(g["id_switches_max"]), 1.0, at_most=True),
        ]
    delayed = g.get("delayed")
    if delayed is not None:
        out.append(
            Target(
                name,
                f"rmse with {delayed['delay_s'] * 1000:.0f} ms delay / without",
                _ratio(delayed["rmse_m"], g["rmse_m"]),
                1.2,
                at_most=True,
            )
        )
    return out
