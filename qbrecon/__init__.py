"""qbrecon: Procore -> QuickBooks Desktop export and reconciliation, data-first."""

from .workspace_full import Workspace

__version__ = "0.1.0"
__all__ = ["Workspace", "__version__"]
