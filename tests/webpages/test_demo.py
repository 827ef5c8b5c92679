"""``make run`` (``meterstack serve --demo``) prints the demo account's dashboard link, which
signs a browser in once."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_demo_prints_a_dashboard_link_that_signs_in_once(tmp_path: Path) -> None:
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("meterstack")),
        "serve",
        "--demo",
        "--port",
        str(port),
        "--database",
        f"sqlite:///{tmp_path / 'demo.db'}",
    ]
    env = {**os.environ, "METERSTACK_OPERATOR_KEY": "demo-operator-key"}
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        assert server.stdout is not None
        deadline, link = time.monotonic() + 60, None
        while link is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            found = re.search(r"dashboard \(signed in, once\): (\S+)", line)
            link = found.group(1) if found else None
        assert link is not None, "the demo printed its dashboard link"
        with httpx.Client(follow_redirects=False, timeout=10) as client:
            for _ in range(200):
                try:
                    answer = client.get(link)
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
            assert answer.status_code == 303
            assert client.get(f"http://127.0.0.1:{port}/dashboard").status_code == 200
        with httpx.Client(follow_redirects=False, timeout=10) as other:
            assert other.get(link).status_code == 401
            minted = other.get(
                f"http://127.0.0.1:{port}/v1/audit",
                params={"kind": "dashboard.link_minted"},
                headers={"Authorization": "Bearer demo-operator-key"},
            ).json()["entries"]
        assert [entry["actor"]["kind"] for entry in minted] == ["operator"]
        assert str(minted[0]["actor"]["id"]).startswith("cli"), "the demo's operator minted it"
        assert link.split("token=")[1] not in str(minted)
    finally:
        server.terminate()
        server.wait(timeout=20)
        if server.stdout is not None:
            server.stdout.close()
