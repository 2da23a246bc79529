"""The HTTP API of API.md: thin routes that parse with marshmallow, call a service and dump."""
