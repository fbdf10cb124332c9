"""The live order lifecycle, venue-neutral: the order state machine and the run's persisted state.

A live broker owns one ``OrderBook`` of ``LiveOrder`` records (``states.py``) that only the
exchange's word moves (execution reports arriving as events), and keeps it, with every fill
by trade id and the client-id counter, in the run directory's SQLite database
(``store.py``), so a restart of the same run resumes instead of adopting orphans.
"""

from .states import FINAL, LiveOrder, OrderState, TransitionRefused
from .store import RunStore

__all__ = ["FINAL", "LiveOrder", "OrderState", "RunStore", "TransitionRefused"]
