"""HelixNet core: models, database, configuration, security and the services (jobs, artifacts, users)."""
