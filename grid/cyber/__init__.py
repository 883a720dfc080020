"""The cyber exchange: member CERTs' indicators shared once, in STIX 2.1 (sans-IO library layer).

:mod:`~grid.cyber.observables` keys noisy observables, :mod:`~grid.cyber.stix` builds the STIX
objects, :mod:`~grid.cyber.markings` and :mod:`~grid.cyber.releasability` hold the TLP rules,
:mod:`~grid.cyber.references` checks received indicators, and :mod:`~grid.cyber.exchange` is the
hub's core.
"""

from grid.cyber.exchange import CyberExchange, Mitigation, Outcome
from grid.cyber.markings import Tlp
from grid.cyber.observables import Observed, observable_key
from grid.cyber.references import Checked, check_indicator
from grid.cyber.releasability import recipients

__all__ = [
    "Checked",
    "CyberExchange",
    "Mitigation",
    "Observed",
    "Outcome",
    "Tlp",
    "check_indicator",
    "observable_key",
    "recipients",
]
