"""The loops of a tenant (master data, cleanup, orders, imports) and its activation."""
