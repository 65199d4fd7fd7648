"""kubegate: a self-hosted API management gateway for REST services on Kubernetes."""

__version__ = "0.1.0"
