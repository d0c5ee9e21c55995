"""Rule packs: YAML source → validated spec → compiled, immutable `RulePack`."""

from screener.rules.pack import CompiledRule, RulePack, load_packs
from screener.rules.source import PackError

__all__ = ["CompiledRule", "PackError", "RulePack", "load_packs"]
