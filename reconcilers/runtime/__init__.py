"""What runs a tenant's loops and reports them: the run, the schedule, the operator's
tenant service, status and metrics."""
