"""simon-visma: the reconcilers and everything else that runs without kopf."""
