"""The command line and the README's examples, run as a newcomer would run them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
HERALD = [sys.executable, "-m", "herald"]


def env_for(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env["HERALD_LOG_LEVEL"] = "WARNING"
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, int, str]]:
    """`herald serve` started in an empty directory, as after a fresh clone. Its output
    goes to a file: a pipe nobody reads until the end could fill and stall the server."""
    port = free_port()
    output = tmp_path / "serve.log"
    with output.open("wb") as log:
        proc = subprocess.Popen(
            [*HERALD, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env_for(tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"herald serve exited: {output.read_text()}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    else:
        proc.kill()
        proc.wait(10)
        pytest.fail(f"herald serve did not become healthy: {output.read_text()}")
    yield tmp_path, port, ""
    proc.terminate()
    proc.wait(20)
    assert proc.returncode == 0, output.read_text()
    assert "Created account AC" in output.read_text()


def readme_block(kind: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- readme-example: {kind} -->\n```\w+\n(.*?)```", text, re.S)
    assert match, f"README has no {kind} example"
    return match.group(1)


def credentials(workdir: Path) -> dict[str, str]:
    lines = (workdir / "var" / "credentials.env").read_text().split()
    return dict(line.split("=", 1) for line in lines)


def test_first_start_writes_credentials(served: tuple[Path, int, str]) -> None:
    workdir, port, _ = served
    creds = credentials(workdir)
    assert creds["TWILIO_ACCOUNT_SID"].startswith("AC")
    response = httpx.get(
        f"http://127.0.0.1:{port}/2010-04-01/Accounts/{creds['TWILIO_ACCOUNT_SID']}.json",
        auth=(creds["TWILIO_ACCOUNT_SID"], creds["TWILIO_AUTH_TOKEN"]),
    )
    assert response.status_code == 200


def test_readme_curl_example_works_as_written(served: tuple[Path, int, str]) -> None:
    workdir, port, _ = served
    script = readme_block("curl").replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    result = subprocess.run(
        ["bash", "-euc", script], cwd=workdir, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    number, message = (
        json.loads(line) for line in result.stdout.replace("}{", "}\n{").splitlines()
    )
    assert number["phone_number"] == "+14155550100"
    assert message["status"] == "queued" and message["body"] == "Hello from Herald"


def run_readme_python(workdir: Path, port: int, kind: str) -> str:
    """The README's setup (a number), then its Python example `kind` as written; its output."""
    setup = readme_block("curl").split("# Send a message")[0]
    prepared = subprocess.run(
        ["bash", "-euc", setup.replace("127.0.0.1:8080", f"127.0.0.1:{port}")],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert prepared.returncode == 0, prepared.stderr
    script = readme_block(kind).replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=workdir,
        env={**env_for(workdir), **credentials(workdir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_readme_python_example_works_as_written(served: tuple[Path, int, str]) -> None:
    workdir, port, _ = served
    first = run_readme_python(workdir, port, "python").splitlines()[0].split()
    assert first[0].startswith("SM") and first[1:] == ["queued", "1"]


def test_readme_service_example_works_as_written(served: tuple[Path, int, str]) -> None:
    workdir, port, _ = served
    accepted, routed, why = run_readme_python(workdir, port, "service").splitlines()
    assert accepted == "accepted None"
    status, sender = routed.split()
    assert status in ("queued", "sending", "sent", "delivered") and sender == "+14155550100"
    assert json.loads(why)["decision"]["rule"] == "area_code_geomatch"


def test_accounts_create_and_list(tmp_path: Path) -> None:
    env = {**env_for(tmp_path), "HERALD_DATA_DIR": str(tmp_path / "data")}
    created = subprocess.run(
        [*HERALD, "accounts", "create", "--friendly-name", "Shop", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    account = json.loads(created.stdout)
    assert account["sid"].startswith("AC") and len(account["auth_token"]) == 32
    test = subprocess.run(
        [*HERALD, "accounts", "create", "--test", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    listed = subprocess.run(
        [*HERALD, "accounts", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = {row["sid"]: row for row in json.loads(listed.stdout)}
    assert rows[account["sid"]]["friendly_name"] == "Shop"
    assert rows[json.loads(test.stdout)["sid"]]["test"] is True


def test_bad_configuration_names_the_variable(tmp_path: Path) -> None:
    env = {**env_for(tmp_path), "HERALD_PORT": "eighty"}
    result = subprocess.run(
        [*HERALD, "accounts", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "HERALD_PORT='eighty'" in result.stderr


def test_accounts_rotate_token(served: tuple[Path, int, str]) -> None:
    """The new token works and the old one stops (within the server's auth cache time);
    the credentials file follows, so the README's examples keep working."""
    workdir, port, _ = served
    old = credentials(workdir)
    sid = old["TWILIO_ACCOUNT_SID"]
    rotated = subprocess.run(
        [*HERALD, "accounts", "rotate-token", sid, "--json"],
        cwd=workdir,
        env=env_for(workdir),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    new = json.loads(rotated.stdout)["auth_token"]
    assert new != old["TWILIO_AUTH_TOKEN"] and len(new) == 32
    assert credentials(workdir)["TWILIO_AUTH_TOKEN"] == new
    url = f"http://127.0.0.1:{port}/2010-04-01/Accounts/{sid}/Messages.json"
    assert httpx.get(url, auth=(sid, new)).status_code == 200
    deadline = time.monotonic() + 10  # HERALD_AUTH_CACHE_S (5 s) on the running server
    while httpx.get(url, auth=(sid, old["TWILIO_AUTH_TOKEN"])).status_code != 401:
        assert time.monotonic() < deadline, "the old token still works"
        time.sleep(0.2)
    missing = subprocess.run(
        [*HERALD, "accounts", "rotate-token", "AC" + "0" * 32],
        cwd=workdir,
        env=env_for(workdir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "no account" in missing.stderr
