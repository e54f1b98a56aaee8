"""Editor support: the analysis behind the Language Server, and the server."""
