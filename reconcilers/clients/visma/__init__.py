"""The Visma.net API client: every wire detail of Visma.net lives here."""

from reconcilers.clients.visma.client import VismaClient
from reconcilers.clients.visma.paging import Page, Pages

__all__ = ["Page", "Pages", "VismaClient"]
