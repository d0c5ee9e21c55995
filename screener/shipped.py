"""What the package ships besides code: the default rule packs and the sample traffic.

Both are directories inside the installed package (`screener/packs`, `screener/samples`; in
the source tree links to `seeds/rules` and `seeds/events`). Their paths come from the
package's own location: what `importlib.resources.files("screener")` gives for an installed or
editable package, without that module's import cost on every command's start-up.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).parent


def default_packs() -> Path:
    """The packs shipped with the package (`seeds/rules` in the source tree)."""
    return PACKAGE_DIR / "packs"


def default_samples() -> Path:
    """The sample traffic shipped with the package (`seeds/events` in the source tree)."""
    return PACKAGE_DIR / "samples"
