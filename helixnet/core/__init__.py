"""HelixNet core: models, services, worker."""
