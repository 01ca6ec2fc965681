"""The key store's schema revisions: one line for the key database all services share."""
