"""The Kubernetes resource's first calls, made by a reconcile's threads at once, import the SDK
without deadlocking on Python's module locks (a fresh interpreter: only there is it the first
import)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Thread a connects (``dynamic()``: a component's first call), thread b, a moment later, GETs
# an object (the registry's read of its pull Secret, in parallel). Each imported a submodule
# directly (``kubernetes.dynamic``, ``kubernetes.dynamic.exceptions``), which takes that
# module's lock before importing its parents: a, importing the package, came to the exceptions
# module b held, b waited for ``kubernetes.dynamic`` a held, and Python raised _DeadlockError
# (seen as "connect to the Kubernetes API: _DeadlockError: deadlock detected by
# _ModuleLock('kubernetes.dynamic.exceptions')" in test_killed_run's in-process rerun). A
# finder that loads the dynamic client's discovery module slowly, as a busy machine does,
# makes the window certain rather than rare.
RACE = textwrap.dedent("""
    import sys, threading, time

    class Slow:
        def find_spec(self, name, path=None, target=None):
            if name == "kubernetes.dynamic.discovery":
                time.sleep(0.3)

    sys.meta_path.insert(0, Slow())
    from resources.kubernetes import KubernetesResource

    k8s = KubernetesResource(kubeconfig_path="/nonexistent/kubeconfig")
    failed = []

    def call(fn, delay):
        time.sleep(delay)
        try:
            fn()
        except Exception as exc:  # no kubeconfig: every call fails, but not on an import
            failed.append(type(exc).__name__)

    threads = [threading.Thread(target=call, args=(k8s.dynamic, 0)),
               threading.Thread(target=call, args=(
                   lambda: k8s.get("v1", "Secret", "token", "web"), 0.1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(" ".join(failed))
""")


def test_threads_first_reaching_the_sdk_at_once_do_not_deadlock_on_its_imports() -> None:
    out = subprocess.run([sys.executable, "-c", RACE], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "_DeadlockError" not in out.stdout.split(), out.stdout
    assert out.stdout.split(), "both calls should fail for want of a kubeconfig"
