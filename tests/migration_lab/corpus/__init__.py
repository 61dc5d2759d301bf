"""A corpus of realistic lab migrations whose data and deploy effects are measured, not assumed."""
