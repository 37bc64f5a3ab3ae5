"""Request and response bodies (msgspec Structs), separate from domain events."""
