"""backtrader-channels without import-time patching.

``import btchannels`` (before anything imports ``backtrader_channels``) gives the same
API as ``backtrader_channels`` but installs nothing on backtrader: use
``btchannels.Cerebro`` and subclass ``btchannels.Strategy``.
"""

from backtrader_channels import *  # noqa: F403  (this module being imported, nothing is installed)
from backtrader_channels import __all__ as _names
from backtrader_channels.explicit import Cerebro, Strategy

__all__ = [*_names, "Cerebro", "Strategy"]
