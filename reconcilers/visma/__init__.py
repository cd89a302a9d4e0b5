"""The Visma.net API client: every wire detail of Visma.net lives here."""

from reconcilers.visma.client import VismaClient
from reconcilers.visma.paging import Page, Pages

__all__ = ["Page", "Pages", "VismaClient"]
