"""Reviewers at their own desks: `madoguchi server up --listen ADDRESS` puts Debian's Caddy in front
of the Prefect server (which stays on 127.0.0.1) on ADDRESS:PORT, with TLS from Caddy's own local
certificate authority and a login.

The login is one `user:password` pair, made at the first `--listen` and kept owner-only in
run/ui-login.txt. It is checked twice with the same value: by Caddy (HTTP basic authentication, so
nothing, not even the UI's pages, is served to a browser without it) and by the Prefect server
itself (`PREFECT_SERVER_API_AUTH_STRING`), so that a program on the office PC that reaches the
server on loopback needs it too. Once the file exists every Prefect process of ours runs with it
(`with_login`), with or without `--listen`: a login, once made, is never silently dropped.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from flows.home import write_private
from flows.service.supervise import Program

LOGIN_FILE = "ui-login.txt"  # under run/
URL_FILE = "office.url"  # under run/: the office address while the proxy is configured
USER = "madoguchi"
HEADER = ("# Madoguchi の画面 (Prefect UI) のログイン: 利用者名:パスワード (user:password)\n"
          "# 変えるときは下の行を書き換えてから madoguchi server down; madoguchi server up\n")


class CaddyMissingError(RuntimeError):
    """caddy is not installed."""


def parse_address(text: str) -> str:
    """An IP address of this machine's office network interface, normalised; refuses a host name
    (Caddy binds to an address) and the wildcard (every interface, the internet's side included)."""
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        raise ValueError(f"--listen takes an IP address of this PC on the office network, not {text!r}") from None
    if ip.is_unspecified:
        raise ValueError(f"--listen {text}: name one interface's address, not every interface")
    return str(ip)


def office_url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}"


def read_login(run: Path) -> str | None:
    """The `user:password` in run/ui-login.txt, None when there is none yet."""
    try:
        lines = (run / LOGIN_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    found = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not found or ":" not in found[0] or not found[0].split(":", 1)[1]:
        raise ValueError(f"{run / LOGIN_FILE}: expected one line user:password")
    return found[0]


def ensure_login(run: Path) -> tuple[str, bool]:
    """The login, made at the first call (a random password, no ':' in it); True when made now."""
    if (login := read_login(run)) is not None:
        return login, False
    login = f"{USER}:{secrets.token_urlsafe(18)}"
    write_private(run / LOGIN_FILE, HEADER + login + "\n")
    return login, True


def with_login(run: Path, command: list[str]) -> list[str]:
    """`command` run with the login in its environment, read from the owner-only file when the
    program starts, so supervisord's configuration holds no secret. Without a login: `command`."""
    if not (run / LOGIN_FILE).exists():
        return command
    return [sys.executable, "-m", "flows.service.office", str(run / LOGIN_FILE), *command]


def client_auth(run: Path) -> dict[str, str]:
    """Prefect settings (names as in the environment) a client of ours needs: the login, if any."""
    login = read_login(run)
    return {} if login is None else {"PREFECT_API_AUTH_STRING": login}


def _caddy() -> str:
    path = shutil.which("caddy")
    if path is None:
        raise CaddyMissingError("caddy not found (apt-get install caddy): it serves the UI on the office network")
    return path


def caddyfile(address: str, port: int, upstream_port: int, data: Path, user: str, password_hash: str) -> str:
    """Caddy's configuration: one HTTPS site on ADDRESS:PORT only, certificate from Caddy's local
    authority (no ACME, nothing fetched), basic authentication, everything proxied to the server."""
    site = office_url(address, port)
    return "\n".join([
        "{",
        "\tadmin off",  # no admin API at all, on no address
        "\tskip_install_trust",  # never touch the system's trust store; IT staff export the root (README)
        "\tauto_https disable_redirects",  # no listener on port 80
        f"\thttps_port {port}",
        f"\tstorage file_system {{\n\t\troot {data}\n\t}}",
        "}",
        "",
        f"{site} {{",
        f"\tbind {address}",
        "\ttls internal",
        "\tlog {\n\t\toutput stderr\n\t}",  # who came from where (logs/proxy.log); Caddy redacts the Authorization header
        "\tbasicauth {",
        f"\t\t{user} {password_hash}",
        "\t}",
        f"\treverse_proxy 127.0.0.1:{upstream_port}",
        "}",
        "",
    ])


def proxy_program(run: Path, home: Path, address: str, port: int, upstream_port: int, login: str) -> Program:
    """Caddy as one more supervisord program; its configuration (with the password's bcrypt hash
    only) in run/Caddyfile, its certificates under caddy/ in the data root, owner-only."""
    data = home / "caddy"
    data.mkdir(mode=0o700, exist_ok=True)
    data.chmod(0o700)
    user, password = login.split(":", 1)
    conf = run / "Caddyfile"  # read by Caddy when it starts: a changed login needs `server down`, `server up`
    hashed = subprocess.run([_caddy(), "hash-password"], input=password + "\n", capture_output=True,  # stdin: not in ps
                            text=True, check=True, timeout=60).stdout.strip().splitlines()[-1]
    write_private(conf, caddyfile(address, port, upstream_port, data.resolve(), user, hashed))
    write_private(run / URL_FILE, office_url(address, port) + "\n")
    env = {"XDG_DATA_HOME": str(data.resolve()), "XDG_CONFIG_HOME": str((data / "config").resolve()),
           "HOME": str(data.resolve())}
    return Program("proxy", [_caddy(), "run", "--config", str(conf.resolve()), "--adapter", "caddyfile"], env)


def main(argv: list[str]) -> None:
    """`python -m flows.service.office LOGIN_FILE COMMAND...`: exec COMMAND with the login set for
    a Prefect server (`PREFECT_SERVER_API_AUTH_STRING`) and for a client (`PREFECT_API_AUTH_STRING`)."""
    login_file, command = Path(argv[0]), argv[1:]
    login = read_login(login_file.parent)
    if login is None:
        raise SystemExit(f"{login_file} is missing: run `madoguchi server up` again")
    os.environ["PREFECT_SERVER_API_AUTH_STRING"] = login
    os.environ["PREFECT_API_AUTH_STRING"] = login
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
