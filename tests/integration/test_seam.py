"""The one seam to backtrader: a release that moves an internal fails at import, by name."""

from __future__ import annotations

import backtrader as bt
import pytest
from backtrader.brokers import BackBroker

from backtrader_channels import seam


def test_the_installed_backtrader_is_a_known_release_with_every_internal_in_place(monkeypatch):
    assert bt.__version__ in seam.KNOWN_VERSIONS
    monkeypatch.setattr(bt, "__version__", "9.9.9")  # an unknown release: checked name by name
    seam.check_backtrader()  # nothing moved, so it passes


def test_an_unknown_release_that_moved_an_internal_is_named(monkeypatch):
    monkeypatch.setattr(bt, "__version__", "9.9.9")
    monkeypatch.delattr(BackBroker, "_bracketize")
    monkeypatch.delattr(bt.Strategy, "_next_observers")
    with pytest.raises(seam.BacktraderIncompatible) as error:
        seam.check_backtrader()
    message = str(error.value)
    assert message.startswith("backtrader 9.9.9 is not supported by backtrader_channels (written for 1.9.78.123)")
    assert "Strategy._next_observers" in message and "BackBroker._bracketize" in message


def test_a_changed_signature_is_named(monkeypatch):
    monkeypatch.setattr(bt, "__version__", "9.9.9")

    def _execute(self, order, price=None):  # ago, cash, position, dtcoc gone
        pass

    monkeypatch.setattr(BackBroker, "_execute", _execute)
    with pytest.raises(seam.BacktraderIncompatible, match=r"BackBroker\._execute.*parameters changed"):
        seam.check_backtrader()


def test_no_module_outside_the_seam_touches_backtrader_internals():
    """Private backtrader names used by the package appear in seam.py only."""
    import re
    from pathlib import Path

    package = Path(seam.__file__).parent
    private = re.compile(r"\.(_next|_notify|_addnotification|_next_analyzers|_next_observers|_execute|_ococheck"
                         r"|_bracketize|_slip_up|_slip_down|_get_value|_toactivate|_event_stop|_dooptimize"
                         r"|_lineiterators|_periodset|_getkwargs|_runnext|_runonce|_ocos|dopreinit|p\.filler)\b")
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "seam.py" or "bench" in path.parts or "testing" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if private.search(code):
                offenders.append(f"{path.relative_to(package)}:{number}: {line.strip()}")
    assert offenders == []
