"""``recoil run --ray`` against a Ray cluster of two nodes on loopback (SPEC 7).

One cluster serves the module (:func:`cluster`): a head node, and a worker node
that alone has the custom resource ``gpu_box``, which the projects' providers
require (``ray_resources``), so every submit must run there. Each run is the
real ``recoil`` command, a driver that joins the cluster from its own process.

Nothing in the cluster may read a project folder: the nodes load
``ray_guard/sitecustomize.py``, whose audit hook refuses (and logs) any open or
listing under the projects in any of their Python processes, so a provider
that read its input file from the project, not from the bytes the driver
sent, would fail its step. The same log shows on which node each submit wrote
to the fake vendor's calls file.

Ray would pick the machine's network address and listen on it; the nodes are
pinned to 127.0.0.1 (``node_ip_address``) and so are the drivers
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: Ray resolves a driver's
``127.0.0.1`` to the network address unless it keeps clusters on loopback).
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    ANA_WAITS,
    artifact_hashes,
    beat,
    recoil,
    records,
    shotlist,
    start_recoil,
    wait_until,
    write_project,
)

cluster_utils = pytest.importorskip(
    "ray.cluster_utils", reason="the Ray backend needs the ray extra: pip install recoil[ray]"
)
psutil = pytest.importorskip("psutil")
pytestmark = [pytest.mark.slow, pytest.mark.ray]

GUARD = Path(__file__).with_name("ray_guard")
SCENES = {
    "one": [ANA_WAITS, beat("b", "Ana turns"), beat("c", "Ana runs", chain_from_previous=True)],
    "two": [beat("d", "Ana stops")],
}
"""Four beats, one speaking and one chained from the beat before it."""
MIXED = shotlist(SCENES, title="Cluster", provider="fake", providers={"video": "previz"}, seed=11)
"""Previz animates each keyframe: it reads its input file, wherever it runs."""
SLOW = shotlist(SCENES, title="Cluster", provider="fake", takes_per_beat=2, seed=11)

ON_THE_WORKER = "ray_resources = { num_cpus = 1, resources = { gpu_box = 1 } }"
FAKE = """\
[providers.fake]
calls_file = "{calls}"
{extra}
"""


@dataclass(frozen=True, kw_only=True)
class RayCluster:
    """The running cluster and where a test puts its projects and vendor files."""

    address: str
    """The head node's GCS address."""
    projects: Path
    """Projects go here: no cluster process may open anything under it."""
    vendor: Path
    """The fake vendor's calls files go here (watched, not forbidden)."""
    guard_log: Path
    driver_env: dict[str, str]
    """The environment of a driver: this process's, without the guard, kept on loopback."""

    def opened(self) -> list[dict[str, Any]]:
        """What cluster processes opened under the watched folder so far (the guard's log)."""
        if not self.guard_log.exists():
            return []
        return [json.loads(line) for line in self.guard_log.read_text().splitlines()]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    base = tmp_path_factory.mktemp("ray-cluster")
    watched, guard_log = base / "watched", base / "guard.jsonl"
    projects, vendor = watched / "projects", watched / "vendor"
    projects.mkdir(parents=True)
    vendor.mkdir()
    driver_env = {k: v for k, v in os.environ.items() if not k.startswith(("RECOIL_", "RAY_"))}
    driver_env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    with pytest.MonkeyPatch.context() as env:
        # Ray's socket paths must stay short, and the address file this cluster writes
        # must not be found by a plain ray.init() elsewhere on the machine.
        env.setenv("RAY_TMPDIR", str(tmp_path_factory.mktemp("r", numbered=True)))
        env.setenv(
            "PYTHONPATH", os.pathsep.join(filter(None, [str(GUARD), os.environ.get("PYTHONPATH")]))
        )
        env.setenv("RECOIL_GUARD_ROOT", str(watched))
        env.setenv("RECOIL_GUARD_FORBIDDEN", str(projects))
        env.setenv("RECOIL_GUARD_LOG", str(guard_log))
        env.setenv("RECOIL_GUARD_NODE", "head")
        nodes = cluster_utils.Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1", **_SMALL},
        )
        try:
            env.setenv("RECOIL_GUARD_NODE", "worker")
            nodes.add_node(
                num_cpus=2, resources={"gpu_box": 2}, node_ip_address="127.0.0.1", **_SMALL
            )
            yield RayCluster(
                address=nodes.address,
                projects=projects,
                vendor=vendor,
                guard_log=guard_log,
                driver_env=driver_env,
            )
        finally:
            nodes.shutdown()


_SMALL = {"object_store_memory": 80 * 1024 * 1024, "include_dashboard": False}


def test_cluster_run_matches_local_and_never_reads_the_project(cluster: RayCluster) -> None:
    """Submits run on the worker node; outputs come back as bytes; same files as locally."""
    local = write_project(
        cluster.projects / "local",
        MIXED,
        FAKE.format(calls=cluster.vendor / "local-calls.jsonl", extra=""),
    )
    on_ray = write_project(
        cluster.projects / "onray",
        MIXED,
        f'[run]\nray_address = "{cluster.address}"\n\n'
        + FAKE.format(calls=cluster.vendor / "onray-calls.jsonl", extra=ON_THE_WORKER)
        + f"\n[providers.previz]\n{ON_THE_WORKER}\n",
    )
    cwd = cluster.projects.parent.parent  # outside the projects: Ray puts it on workers' paths
    done = recoil("run", str(local), cwd=cwd, env=cluster.driver_env, timeout=180)
    assert done.returncode == 0, done.stderr
    done = recoil("run", str(on_ray), "--ray", cwd=cwd, env=cluster.driver_env, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr

    assert artifact_hashes(on_ray) == artifact_hashes(local)
    receipts = records(on_ray, "receipt")
    assert {r["provider"] for r in receipts} == {"fake", "previz"}
    assert all(r["status"] == "succeeded" for r in receipts)
    opened = cluster.opened()
    assert not [line["path"] for line in opened if line["denied"]]
    calls = str(cluster.vendor / "onray-calls.jsonl")
    submits = [line for line in opened if line["path"] == calls and line["write"]]
    fake_receipts = [r for r in receipts if r["provider"] == "fake" and not r["cached"]]
    assert len(submits) == len(fake_receipts) > 0
    assert {line["node"] for line in submits} == {"worker"}  # where gpu_box is


def test_a_killed_driver_resumes_without_submitting_twice(cluster: RayCluster) -> None:
    """SIGKILL ``recoil run`` while its submits are in flight on the cluster; rerun; finish."""
    calls = cluster.vendor / "resume-calls.jsonl"
    settings = '[run]\nexecutor = "ray"\nconcurrency = 2\n\n' + FAKE.format(
        calls=calls, extra=f"latency_s = 0.4\nasync = true\n{ON_THE_WORKER}"
    )
    project = write_project(cluster.projects / "resume", SLOW, settings)
    env = {**cluster.driver_env, "RAY_ADDRESS": cluster.address}  # no --ray: [run] executor
    cwd = cluster.projects.parent.parent

    kills = [
        # The vendor has the job; the driver may not have recorded it yet: found, not resent.
        ("accepted", 1),
        # Jobs running at the vendor while no driver polls them: polled again, not resent.
        ("submitted", 2),
        # A submit on its way to the worker node: looked up first, sent if it never arrived.
        ("sending", 1),
    ]
    for kill, (kind, more) in enumerate(kills):
        count = _counter(project, calls, kind)
        _kill_once(project, env, count, count() + more, output=cwd / f"run-{kill}.log")
        again = sorted(job for job, n in _submits(calls).items() if n > 1)
        assert not again, f"jobs submitted twice: {again}"

    final = recoil("run", str(project), cwd=cwd, env=env, timeout=180)
    assert final.returncode == 0, final.stdout + final.stderr
    submits = _submits(calls)
    assert not sorted(job for job, n in submits.items() if n > 1)
    receipts = records(project, "receipt")
    assert all(r["status"] == "succeeded" for r in receipts)
    assert set(submits) == {r["job_id"] for r in receipts if not r["cached"]}
    opened = cluster.opened()
    assert not [line["path"] for line in opened if line["denied"]]
    # A submit left in doubt was looked up (find, in a Ray task) in the vendor's memory.
    assert [line for line in opened if line["path"] == str(calls) and not line["write"]]

    clean = write_project(
        cluster.projects / "clean",
        SLOW,
        FAKE.format(calls=cluster.vendor / "clean.jsonl", extra=""),
    )
    assert recoil("run", str(clean), cwd=cwd, env=cluster.driver_env).returncode == 0
    assert artifact_hashes(project) == artifact_hashes(clean)


def test_the_cluster_listens_and_dials_on_loopback_only(cluster: RayCluster) -> None:
    """Every socket of every cluster process (GCS, raylets, workers) is on 127.0.0.1."""
    assert cluster.address.startswith("127.0.0.1:")
    processes = psutil.Process().children(recursive=True)
    assert len(processes) > 4  # GCS, two raylets, their agents and workers
    listening, peers = [], []
    for process in processes:
        try:
            sockets = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        listening += [s.laddr.ip for s in sockets if s.status == psutil.CONN_LISTEN]
        peers += [s.raddr.ip for s in sockets if s.raddr]
    assert listening
    assert all(_loopback(ip) for ip in listening), sorted(set(listening))
    assert all(_loopback(ip) for ip in peers), sorted(set(peers))


def _kill_once(
    project: Path, env: dict[str, str], count: Callable[[], int], target: int, *, output: Path
) -> None:
    """Start ``recoil run``; SIGKILL it as soon as ``count()`` reaches ``target``."""
    process = start_recoil("run", str(project), cwd=output.parent, env=env, output=output)
    try:
        wait_until(
            lambda: process.poll() is not None or count() >= target,
            what=f"the count to kill the run at ({target})",
            timeout_s=120,
        )
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -9, f"the run ended before the kill:\n{output.read_text()}"


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _counter(project: Path, calls_file: Path, kind: str) -> Callable[[], int]:
    """How many ``kind`` records the log holds, or submits the vendor accepted (``accepted``)."""
    if kind == "accepted":
        return lambda: sum(_submits(calls_file).values())
    return lambda: len(records(project, kind))


def _submits(calls_file: Path) -> Counter[str]:
    """Submits the fake vendor accepted, by job id (its calls file outlives every driver)."""
    if not calls_file.exists():
        return Counter()
    lines = [json.loads(text) for text in calls_file.read_text().splitlines()]
    return Counter(line["job_id"] for line in lines if line["accepted"])
