"""The approver's dashboard (Panel): sign-in, the ERP Integrations queue, the audit log, reconciliation and
settings. ``create_app(workspace)`` returns the per-session app function that ``qbrecon.server`` serves."""

from .app import SCRIPTS, STATIC_DIR, create_app

__all__ = ["SCRIPTS", "STATIC_DIR", "create_app"]
