"""Rule packs: YAML source → validated spec → compiled, immutable `RulePack`."""

from screener.rules.errors import PackError
from screener.rules.pack import CompiledRule, RulePack, load_packs

__all__ = ["CompiledRule", "PackError", "RulePack", "load_packs"]
