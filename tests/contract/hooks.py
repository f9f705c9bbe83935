"""Schemathesis hooks for the contract test (tests/contract.rs sets SCHEMATHESIS_HOOKS)."""

import schemathesis

# The tus protocol's bodies (application/offset+octet-stream) are raw bytes, as
# application/octet-stream is.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
