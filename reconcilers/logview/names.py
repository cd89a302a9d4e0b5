"""What a namespace and a VismaIntegration's name may be (Kubernetes' DNS-1123 rules): the
plugin refuses anything else on its command line and the log view in its path."""

from __future__ import annotations

import re

NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
"""A DNS-1123 label, at most 63 characters."""
NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
"""A DNS-1123 subdomain, at most 253 characters."""
