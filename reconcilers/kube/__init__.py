"""The operator's own Kubernetes objects for sharing tenants between replicas and
installations: replica Leases (`leases`), the hold on each resource (`holds`) and serving a
tenant only while this replica owns it (`serving`). Free of kopf; the `kubernetes` client's
blocking calls run in threads (the Lease renewals on one of their own), never on the event
loop."""
