"""The Sign Center: the only process that holds exchange secrets; it signs requests under a policy."""
