"""Feature code for the churn example; a change here re-runs the `features` step."""
