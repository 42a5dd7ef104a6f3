"""The sandbox: a local, stateful stand-in for IONOS Cloud, Kubernetes, S3, Git, Alertmanager and
TLS endpoints, which the real client libraries talk to over HTTP. It imports nothing from the
product's reconcile code: it stands for the outside world."""
