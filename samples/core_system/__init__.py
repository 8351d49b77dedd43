"""The stand-in core system (住民情報システム, 模擬): see app.py. `python -m samples.core_system --help`."""

from samples.core_system.app import Behaviour, CoreSystem

__all__ = ["Behaviour", "CoreSystem"]
