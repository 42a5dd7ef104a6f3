"""A Kubernetes API server emulator that kubectl, the Python client and dagster-k8s talk to.

Start it with ``sandbox.http.serve(KubernetesService(World()))`` and point clients at
``svc.kubeconfig(url)`` (plain HTTP, any bearer token). It follows
``shared/reference/kubernetes-api-emulation.md``.

Emulated:

- Discovery (``/version`` reports v1.32.4, ``/api``, ``/apis``, group versions) built from the
  kind table in ``registry.py`` and from every stored CustomResourceDefinition; CRDs for
  cert-manager, Flux, ``snapshot.storage.k8s.io`` and external-secrets are preinstalled, and CRDs
  created through the API are served at once. A minimal ``/openapi/v3`` (one PATCH operation per
  kind) lets ``kubectl apply`` run with its default ``--validate=strict``.
- CRUD on namespaced, cluster-scoped and all-namespace paths; one global resourceVersion; uid,
  creationTimestamp, generation (bumped only when something outside metadata/status changes);
  no-op writes keep the resourceVersion; ``generateName``; Secret ``stringData`` folded into
  ``data``; namespaces must exist (``default``, ``kube-system``, ``kube-public``,
  ``kube-node-lease`` are created at start); Status error bodies for 400/404/405/409/410/415/422.
- Label selectors (equality, set, exists forms) and field selectors (``metadata.name``,
  ``metadata.namespace`` and the per-kind fields in the table; others answer 400).
- JSON patch, merge patch, strategic merge patch (a subset, see ``patch.py``; custom resources
  answer 415) and server-side apply with ``managedFields``, conflicts, ``force``, removal of
  fields a manager stops applying, create-on-apply; ``dryRun=All`` on every write.
- The ``status`` subresource (spec/status isolation), Deployment/StatefulSet ``scale``, pod
  ``log`` (``tailLines``, ``timestamps``; ``follow`` returns the log so far and closes).
- Deletion with body or query options, preconditions, finalizers (``deletionTimestamp``),
  propagation through ownerReferences (Background, Foreground, Orphan; batch/v1 Jobs default to
  Orphan), namespace termination (phase Terminating; the contents go after half a second, as
  the namespace controller would, and creating in it answers 403).
- Job defaulting (selector on the controller uid, template labels, backoffLimit/completions/
  parallelism), so ``kubectl logs job/x`` and ``kubectl wait --for=condition=Complete`` work.
- Watches: chunked JSON lines, resourceVersion semantics, ``410 Expired`` once the bounded
  history no longer covers the requested version, ``timeoutSeconds``.
- Simulated controllers (``controllers.py``) on a background thread: workloads become available,
  PVCs bind to a CSI volume provisioned through ``World.provision_volume``, Jobs run a Pod (or a
  local subprocess with ``run_jobs=True``) and complete, certificates are issued by a sandbox CA
  into their TLS Secret and renewed on ``Issuing`` or at ``renewalTime``, VolumeSnapshots become
  ready with a VolumeSnapshotContent, Flux objects reconcile and echo
  ``reconcile.fluxcd.io/requestedAt``, ExternalSecrets write their target Secret (values from a
  store's ``fake`` provider, else placeholders), issuers and secret stores become Ready, nodes of
  IONOS node pools appear through ``World.set_pool_nodes``. Pods in simulated runs exit with the
  code in annotation ``sandbox.platform-ops/exit-code`` (default 0).
- ``run_jobs=True``: a Pod that runs to completion (restartPolicy Never/OnFailure) runs its first
  container's ``command + args`` as a local subprocess with the container's env (values,
  Secret/ConfigMap refs, envFrom) over this process's environment (PATH gets this interpreter's
  bin directory first); the exit code and output become the Pod's status and log.
- State survives a restart when ``state_dir`` is set (written by the controller thread after
  writes and on ``stop()``); ``reset()`` returns to a fresh cluster.
- ``python -m sandbox.kubernetes --kubeconfig FILE`` runs the emulator alone.

Out of scope: protobuf/CBOR (so kubectl's typed generators such as ``kubectl create configmap``
get 415; ``kubectl create -f`` and ``apply`` send JSON and work), authentication and
authorisation (any token works), admission webhooks, CRD conversion and schema validation
(``fieldValidation=Strict`` does not reject unknown fields), defaulting (Service clusterIP,
Deployment strategy...), strategic merge directives other than ``$patch: delete``/``replace``
(``$setElementOrder`` is ignored), Table output, aggregated discovery, bookmarks, pagination
(``limit`` returns everything), ReplicaSets and Pods for Deployments, scheduling,
exec/attach/port-forward, Job retries (``backoffLimit``), CronJob schedules, issuer readiness
gating certificate issuance.
"""

from sandbox.kubernetes.service import KubernetesService

__all__ = ["KubernetesService"]
