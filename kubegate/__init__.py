"""kubegate: a self-hosted API management gateway for REST services on Kubernetes."""

from kubegate.native import use_sources_if_needed

__version__ = "0.1.0"

use_sources_if_needed()  # an edited checkout runs its sources, not a stale build
