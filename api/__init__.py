"""The HTTP API (Litestar): controllers, schemas, authentication, the error table."""
