"""The catalog's gRPC transport: servicers parse a request (requests.py), call the service layer and
present its records as messages (presenters.py); the only modules that build the generated API's
messages. Cached answers are presented once, when computed, and travel as bytes (prebuilt.py)."""
