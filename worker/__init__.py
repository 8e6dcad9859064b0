"""The outbox worker: ``python -m worker`` (``make worker``), or one inside the API process (``make run``)."""
