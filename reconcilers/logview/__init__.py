"""A tenant's integration log through the Kubernetes API, without exec into the pod.

The operator serves a read-only HTTP endpoint (`server`): ``GET /tenants/{namespace}/{name}/log``
answers the tenant's log entries as JSON, read from the store the operator already has open.
The kubectl plugin (`plugin`, the console script ``kubectl-simon_visma``) reads it through the
API server's service proxy, after reading the VismaIntegration with the caller's own
credentials, and prints it as ``simon-visma log`` does. `entries` is the JSON shape both share.
"""
