"""Technology needs, the dormant-patent pool, two-way matching and feedback."""
