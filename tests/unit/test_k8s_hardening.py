"""The k8s manifest runs screener non-root on a read-only root filesystem, writing only to
scratch volumes (the service writes nothing but temporary metrics files under /tmp)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _deployment() -> dict[str, Any]:
    docs = yaml.safe_load_all((ROOT / "deploy/k8s/deployment.yaml").read_text(encoding="utf-8"))
    (deployment,) = [d for d in docs if d and d.get("kind") == "Deployment"]
    return deployment


def test_container_root_filesystem_is_read_only_and_unprivileged() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    for container in pod["containers"]:
        ctx = container["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"]["drop"] == ["ALL"]


def test_only_scratch_volumes_are_writable() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in pod["containers"]:
        for mount in container.get("volumeMounts", []):
            if not mount.get("readOnly"):
                assert "emptyDir" in volumes[mount["name"]], mount
    mounts = {m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
    assert "/tmp" in mounts  # prometheus multiprocess files and Python's tempfile


def test_the_image_runs_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text(encoding="utf-8")
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
