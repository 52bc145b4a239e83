"""Client of the external api-cnaes companies API."""
