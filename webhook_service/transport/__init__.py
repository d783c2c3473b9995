"""The webhook service's gRPC transport: servicers parse a request, call the service layer and present
its records as messages; nothing else in the service imports the generated API."""
