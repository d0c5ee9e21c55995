"""screener: streaming message screening for chat and microblog traffic."""

__version__ = "0.1.0"
