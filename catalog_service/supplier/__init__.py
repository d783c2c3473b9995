"""The supplier integration (API A): client, synchronisation into the catalog, its status."""
