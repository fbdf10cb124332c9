"""Safety limits of a live broker: order size and notional, per order and per run."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass
class Limits:
    """Refuse an order above ``max_order_size`` (base units) or ``max_order_notional``
    (quote units), or one that would take the run's sent notional above ``max_run_notional``
    or its order count above ``max_orders``. None: no limit."""

    max_order_size: float | None = None
    max_order_notional: float | None = None
    max_run_notional: float | None = None
    max_orders: int | None = None
    sent_notional: float = 0.0
    sent_orders: int = 0

    def refusal(self, size: float, price: float | None) -> str | None:
        """Why an order of ``size`` at about ``price`` is refused, or None (then it is counted)."""
        size = abs(size)
        if self.max_order_size is not None and size > self.max_order_size:
            return f"order size {size:g} exceeds max_order_size {self.max_order_size:g}"
        notional = None if price is None else size * price
        if notional is None:
            if self.max_order_notional is not None or self.max_run_notional is not None:
                return "no price yet to check the notional limits against"
        elif self.max_order_notional is not None and notional > self.max_order_notional:
            return f"order notional {notional:,.2f} exceeds max_order_notional {self.max_order_notional:,.2f}"
        elif self.max_run_notional is not None and self.sent_notional + notional > self.max_run_notional:
            return (f"run notional {self.sent_notional + notional:,.2f} would exceed max_run_notional "
                    f"{self.max_run_notional:,.2f}")
        if self.max_orders is not None and self.sent_orders >= self.max_orders:
            return f"max_orders {self.max_orders} reached"
        self.sent_notional += notional or 0.0
        self.sent_orders += 1
        return None
