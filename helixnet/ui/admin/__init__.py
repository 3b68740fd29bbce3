"""Admin pages; the guard answers 404 for them to anyone who is not an admin."""
