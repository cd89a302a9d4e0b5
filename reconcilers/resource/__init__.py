"""The VismaIntegration resource: its spec and status, the files it is read from, and the
credentials its Secrets hold."""
