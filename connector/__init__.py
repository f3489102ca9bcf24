"""connector: one JSON definition of an HTTP API becomes CRUD calls, webhooks and workflows."""
