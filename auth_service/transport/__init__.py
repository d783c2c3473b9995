"""The auth service's gRPC transport: servicers parse a request, call the token broker and present what
it hands out (metadata only on the public route); nothing else in the service imports the API."""
