"""Generator backends: one protocol (base.Generator), one module per runtime, one registry."""
