"""The demo: sample REST services and the gateway config that fronts them."""
