"""`madoguchi server up --listen ADDRESS`: reviewers at their own desks reach the UI through Caddy,
with TLS and a login, from another host on the office network.

The other host is made by the test itself: a network namespace joined to this one by a veth pair,
on a /30 of 10.231.x.y that no interface here uses yet. The namespace has no route but that /30, so
the browser and the requests run inside it can reach only the address Caddy listens on; the test
process talks to that address and to loopback, nowhere else. Namespace and veth go in a finally.
Needs root and `ip netns` (iproute2); skipped otherwise, with the reason.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import socket
import stat
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flows import cli
from flows.service import office, server
from tests.browser import VIEWPORT, _same_origin_only, artifact_path, chromium_path, resume_in_ui
from tests.conftest import SAMPLES
from tests.stack import running_stack


class Namespace:
    """A second host: network namespace `name`, reached from here at `host_ip`, itself at `ns_ip`."""

    def __init__(self, name: str, host_if: str, ns_if: str, host_ip: str, ns_ip: str):
        self.name, self.host_if, self.ns_if, self.host_ip, self.ns_ip = name, host_if, ns_if, host_ip, ns_ip

    def run(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], capture_output=True, text=True,
                              timeout=60, **kw)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def _unused_subnet() -> int:
    """x of a 10.231.x.0/30 that no address on this host (or its routes) is in yet."""
    used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    used += subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    for x in random.sample(range(1, 255), 254):
        if f"10.231.{x}." not in used:
            return x
    pytest.skip("every 10.231.x.0/30 is taken on this host")


@contextmanager
def veth_namespace() -> Iterator[Namespace]:
    if os.geteuid() != 0:
        pytest.skip("needs root: the test makes a network namespace and a veth pair (ip netns, ip link)")
    if shutil.which("ip") is None or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        pytest.skip("`ip netns` is not available (apt-get install iproute2; a container may forbid namespaces)")
    tag = f"{os.getpid() % 100000}"
    ns = Namespace(f"madoguchi-t{tag}", f"mdg{tag}h", f"mdg{tag}n", "", "")
    x = _unused_subnet()
    ns.host_ip, ns.ns_ip = f"10.231.{x}.1", f"10.231.{x}.2"
    made_ns = made_link = False
    try:
        try:
            _ip("netns", "add", ns.name)
            made_ns = True
            _ip("link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if)
            made_link = True
        except subprocess.CalledProcessError as e:
            pytest.skip(f"cannot make a network namespace with a veth pair here: {e.stderr.strip()}")
        _ip("link", "set", ns.ns_if, "netns", ns.name)
        _ip("addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if)
        _ip("link", "set", ns.host_if, "up")
        _ip("netns", "exec", ns.name, "ip", "addr", "add", f"{ns.ns_ip}/30", "dev", ns.ns_if)
        _ip("netns", "exec", ns.name, "ip", "link", "set", ns.ns_if, "up")
        _ip("netns", "exec", ns.name, "ip", "link", "set", "lo", "up")
        routes = ns.run("ip", "route").stdout
        assert "default" not in routes, routes  # the namespace reaches its /30 and nothing else
        deadline = time.monotonic() + 10  # the veth's link comes up (IPv4 needs no DAD)
        while ns.run("ping", "-c1", "-W1", ns.host_ip).returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        yield ns
    finally:
        if made_link:
            subprocess.run(["ip", "link", "del", ns.host_if], capture_output=True)  # takes its peer along
        if made_ns:
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)


def _free_port_on(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def netns():
    with veth_namespace() as ns:
        yield ns


@pytest.fixture(scope="module")
def stack(tmp_path_factory, netns):
    """`madoguchi server up --listen <host side of the veth>`, through the CLI; reconcile paused
    (reviews here are opened by the test)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import temporary_settings

    mp = pytest.MonkeyPatch()
    mp.setenv("MADOGUCHI_SERVER__LISTEN_PORT", str(_free_port_on(netns.host_ip)))

    def up(settings) -> None:
        assert cli.main(["server", "up", "--listen", netns.host_ip]) == 0

    try:
        with running_stack(tmp_path_factory, "office", start=up) as settings:
            with temporary_settings(server.client_settings(settings)):
                with get_client(sync_client=True) as client:
                    client.pause_deployment(client.read_deployment_by_name("reconcile/reconcile").id)
            yield settings
    finally:
        mp.undo()


def _login(settings) -> str:
    login = office.read_login(settings.home / "run")
    assert login is not None
    return login


def _office(settings) -> str:
    st = server.status(settings)
    assert st["office_ui"], st
    return st["office_ui"]


def _root_cert(settings) -> Path:
    return settings.home / "caddy" / "pki" / "authorities" / "local" / "root.crt"


PROBE = textwrap.dedent("""
    import base64, json, ssl, sys, urllib.error, urllib.request
    url, cafile, login, method = sys.argv[1:5]
    headers = {"Authorization": "Basic " + base64.b64encode(login.encode()).decode()} if login else {}
    headers["Accept"] = "text/html,*/*"  # a page as a browser asks for it (the UI serves its pages to those)
    data = b"{}" if method == "POST" else None
    if data:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=cafile), timeout=20) as r:
            print(json.dumps([r.status, r.headers.get("WWW-Authenticate")]))
    except urllib.error.HTTPError as e:
        print(json.dumps([e.code, e.headers.get("WWW-Authenticate")]))
""")


def _from_namespace(netns, settings, path: str, login: str = "", method: str = "GET") -> tuple[int, str | None]:
    """HTTP status (and challenge) of `path` on the office address, asked from inside the namespace,
    the certificate checked against Caddy's root."""
    import sys

    r = netns.run(sys.executable, "-c", PROBE, _office(settings) + path, str(_root_cert(settings)), login, method)
    assert r.returncode == 0, r.stderr
    return tuple(json.loads(r.stdout))


def test_without_the_login_the_office_address_answers_401(stack, netns):
    """GIVEN `server up --listen` WHEN another host asks for the UI's pages or its API over HTTPS
    (the certificate checked against Caddy's root) without the login THEN 401 with a basic-auth
    challenge; with the login, 200. The Prefect server itself is still on loopback only and asks
    for the login too (health excepted); Caddy has no admin API on any address."""
    assert _office(stack) == f"https://{netns.host_ip}:{stack.server.listen_port}"
    for path in ("/", "/v2/runs", "/api/admin/version"):
        status, challenge = _from_namespace(netns, stack, path)
        assert status == 401 and challenge and challenge.startswith("Basic"), (path, status, challenge)
    assert _from_namespace(netns, stack, "/api/flow_runs/filter", method="POST")[0] == 401
    login = _login(stack)
    assert _from_namespace(netns, stack, "/api/flow_runs/filter", "madoguchi:wrong", "POST")[0] == 401
    assert _from_namespace(netns, stack, "/v2/runs", login)[0] == 200
    assert _from_namespace(netns, stack, "/api/flow_runs/filter", login, "POST")[0] == 200

    # the Prefect server: 127.0.0.1 only, and the login there too
    r = netns.run("python3", "-c", f"import socket; socket.create_connection(('{netns.host_ip}', "
                  f"{stack.server.port}), timeout=5)")
    assert r.returncode != 0  # nothing on the office address but Caddy's port
    req = urllib.request.Request(f"{server.api_url(stack)}/flow_runs/filter", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"{server.api_url(stack)}/health", timeout=10) as ok:
        assert ok.status == 200  # `server status` and supervisors may ask without the login
    # Caddy: the proxy's port on the office address and nothing else (no admin API, no port 80)
    caddy = server._pid(stack, "proxy")
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    ours = [line.split()[3] for line in listening.splitlines() if f"pid={caddy}," in line]
    assert ours == [f"{netns.host_ip}:{stack.server.listen_port}"], ours


def test_the_login_and_the_certificates_are_owner_only(stack):
    """GIVEN `server up --listen` THEN the login is in run/ui-login.txt, 0600, and not in supervisord's
    configuration or the Caddyfile (there only its bcrypt hash); Caddy's data (its CA's private key
    included) is under caddy/ in the data root, nothing there open to group or others."""
    home = stack.home
    login_file = home / "run" / office.LOGIN_FILE
    assert stat.S_IMODE(login_file.stat().st_mode) == 0o600
    password = _login(stack).split(":", 1)[1]
    assert len(password) >= 20
    for conf in ("supervisord.conf", "Caddyfile"):
        assert password not in (home / "run" / conf).read_text()
    caddy = home / "caddy"
    assert stat.S_IMODE(caddy.stat().st_mode) == 0o700 and _root_cert(stack).exists()
    loose = [f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p.relative_to(home)}" for p in [caddy, *caddy.rglob("*")]
             if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077]
    assert loose == []
    assert stat.S_IMODE((home / "run" / "Caddyfile").stat().st_mode) == 0o600


@pytest.fixture(scope="module")
def review(stack, engines):
    """A doubtful document read in this process, and its suspended review run (as test_review opens one)."""
    from prefect.settings import temporary_settings

    from flows.pipeline import Reader
    from tests.test_review import _form, _open

    with temporary_settings(server.client_settings(stack)):
        reader = Reader(stack, engines=engines)
        path = Path(shutil.copy(SAMPLES / "scans" / "child_allowance-300dpi.jpg", stack.home / "office.jpg"))
        result = reader.process(path)
        assert result.status == "needs_review"
        doc = reader.store.find(result.sha256)
        run = _open(reader.store, doc, stack)
        schema, _ = _form(run)
        return reader.store, doc, run, schema


@contextmanager
def browser_in(netns, tmp_path) -> Iterator:
    """Debian's Chromium started inside the namespace (Playwright drives it over a pipe, so only the
    browser's own traffic comes from the namespace's address)."""
    exe = chromium_path()
    if exe is None:
        pytest.skip("no Chromium: install Debian's `chromium-headless-shell`")
    wrapper = tmp_path / "chromium-in-netns"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {netns.name} {exe} "$@"\n')
    wrapper.chmod(0o700)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(wrapper))
        try:
            yield b
        finally:
            b.close()


def test_the_review_queue_links_reviewers_to_the_office_address(stack, review, capsys):
    """GIVEN a suspended review while the UI is served on the office network WHEN `madoguchi review
    list` runs (as a clerk does to hand out the queue) THEN its link to the review is on the office
    address a reviewer's desk can open, not this PC's 127.0.0.1."""
    _, doc, run, _ = review
    assert cli.main(["review", "list", "--json"]) == 0
    items = {it["document_id"]: it for it in json.loads(capsys.readouterr().out)}
    assert items[doc.id]["url"] == f"{_office(stack)}/v2/runs/flow-run/{run.id}"


def test_a_reviewer_at_another_desk_answers_a_review_through_the_office_address(stack, netns, review, tmp_path):
    """GIVEN a suspended review and a browser on another host WHEN it opens the office address
    without the login THEN it gets 401 and no page; WHEN the reviewer gives the login (the browser's
    dialog, then Prefect's own login page, which keeps it for the browser) THEN the runs list shows
    the review, and the reviewer answers it (⋮ → Resume) with the corrections stored under their name.
    Screenshots: var/test-artifacts/office-*.png."""
    from flows.verify import BLANK, shown
    from schemas.templates import load_templates

    store, doc, run, schema = review
    origin = _office(stack)
    login = _login(stack)
    user, password = login.split(":", 1)
    specs = {f.name: f for f in load_templates()["child_allowance"].fields}
    truth = json.loads((SAMPLES / "scans" / "child_allowance-300dpi.truth.json").read_text(encoding="utf-8"))["fields"]
    doubtful = [n for n in schema["properties"] if n in specs]
    changes = {schema["properties"][n]["title"]: shown(specs[n], truth[n]) for n in doubtful}
    changes = {title: BLANK if value == "" else value for title, value in changes.items()}
    changes["確認者名"] = "窓口 六郎"
    auth = {"Authorization": "Basic " + base64.b64encode(login.encode()).decode()}

    with browser_in(netns, tmp_path) as browser:
        # no login: refused, nothing of the UI served
        anon = browser.new_context(ignore_https_errors=True)
        try:
            anon.route("**/*", _same_origin_only(origin))
            response = anon.new_page().goto(f"{origin}/v2/runs")
            assert response.status == 401
        finally:
            anon.close()

        # certificate: Caddy's local CA, which office PCs are told to trust (README); Chromium here has no
        # store of its own to put it in, so the check of the chain is the probe's in the test above
        ctx = browser.new_context(viewport=VIEWPORT, locale="ja-JP", ignore_https_errors=True,
                                  http_credentials={"username": user, "password": password})
        try:
            ctx.route("**/*", _same_origin_only(origin))
            page = ctx.new_page()
            page.goto(f"{origin}/v2/runs", wait_until="domcontentloaded")
            # Prefect's own login page (the server has PREFECT_SERVER_API_AUTH_STRING): the same user:password
            field = page.locator("input[type=password]").first
            field.wait_for(state="visible", timeout=60_000)
            page.screenshot(path=str(artifact_path("office-login.png")), animations="disabled")
            field.fill(login)
            field.press("Enter")
            field.wait_for(state="detached", timeout=60_000)
            page.goto(f"{origin}/v2/runs", wait_until="domcontentloaded")
            page.get_by_text(run.name, exact=True).first.wait_for(state="visible", timeout=60_000)
            page.screenshot(path=str(artifact_path("office-runs.png")), full_page=True, animations="disabled")
            page.close()

            seen = resume_in_ui(browser, origin, str(run.id), changes, artifact_path("office-review-dialog.png"),
                                context=ctx, api_root=server.api_url(stack), api_headers=auth)
        finally:
            ctx.close()
    assert seen["images_total"] == seen["images"] == len(doubtful) + 1
    deadline = time.monotonic() + 240
    while (state := _state(stack, run.id, auth)) not in ("COMPLETED", "FAILED", "CRASHED"):
        assert time.monotonic() < deadline, state
        time.sleep(1)
    assert state == "COMPLETED"
    corrections = [c for c in store.corrections() if c.document_id == doc.id]
    assert {c.field: json.loads(c.after) if c.after else None for c in corrections} == {n: truth[n] for n in doubtful}
    assert {c.reviewer for c in corrections} == {"窓口 六郎"}
    # the answer came from the other host's address, through Caddy (its access log, logs/proxy.log)
    access = [json.loads(line) for line in (stack.home / "logs" / "proxy.log").read_text().splitlines()
              if line.startswith("{") and '"http.log.access' in line]
    resumes = [a for a in access if a["request"]["uri"].endswith(f"/flow_runs/{run.id}/resume")]
    assert resumes and {a["request"]["remote_ip"] for a in resumes} == {netns.ns_ip}
    assert {a["user_id"] for a in resumes} == {user}
    log = (stack.home / "logs" / "proxy.log").read_text()
    assert password not in log and base64.b64encode(login.encode()).decode() not in log


def _state(settings, run_id, auth: dict[str, str]) -> str:
    req = urllib.request.Request(f"{server.api_url(settings)}/flow_runs/{run_id}", headers=auth)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["state_type"]


def test_listen_takes_one_address_of_this_pc_and_caddy_gets_nothing_more():
    """GIVEN `--listen` WHEN it is a host name or the wildcard THEN it is refused with what to give
    instead; an address is normalised, and Caddy's configuration for it has no admin API, no port
    80, binds that address alone and holds the password's hash only. (No root needed.)"""
    for bad in ("office-pc", "0.0.0.0", "::", ""):
        with pytest.raises(ValueError, match="--listen"):
            office.parse_address(bad)
    assert office.parse_address(" 192.168.10.5 ") == "192.168.10.5"
    assert office.office_url(office.parse_address("[fd00::5]"), 8443) == "https://[fd00::5]:8443"
    conf = office.caddyfile("192.168.10.5", 8443, 4200, Path("/srv/m/caddy"), "madoguchi", "$2a$14$hash")
    assert "\tadmin off\n" in conf and "\tskip_install_trust\n" in conf and "disable_redirects" in conf
    assert "\tbind 192.168.10.5\n" in conf and "\ttls internal\n" in conf and "acme" not in conf
    assert "reverse_proxy 127.0.0.1:4200" in conf and "madoguchi $2a$14$hash" in conf


def test_up_without_listen_stops_the_proxy_and_keeps_the_login(stack, netns):
    """GIVEN the stack serving the office network WHEN `server up` runs again without `--listen`
    THEN Caddy is stopped (nothing answers on the office address) and the rest runs, but the
    Prefect server still asks for the login: a login once made is not silently dropped.
    Last in the module: it changes the stack the others use."""
    from tests.conftest import REPO

    server.up(stack, REPO)
    st = server.status(stack)
    assert st["proxy"] is None and st["office_ui"] is None and st["login_file"], st
    assert st["healthy"] and st["worker"] and st["watcher"], st
    r = netns.run("python3", "-c", f"import socket; socket.create_connection(('{netns.host_ip}', "
                  f"{stack.server.listen_port}), timeout=5)")
    assert r.returncode != 0 and "refused" in r.stderr, r.stderr
    url = f"{server.api_url(stack)}/flow_runs/filter"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST",
                                                      headers={"Content-Type": "application/json"}), timeout=10)
    assert refused.value.code == 401
    auth = {"Authorization": "Basic " + base64.b64encode(_login(stack).encode()).decode(),
            "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST", headers=auth),
                                timeout=10) as ok:
        assert ok.status == 200
