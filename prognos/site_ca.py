"""A certificate authority for one site or test: the broker's TLS certificate, signed by a
CA the site's devices, agents and cloud workers trust (``ca_file``), with OpenSSL.

Debian's ``openssl`` program does the cryptography; this module only chooses safe settings:
RSA 3072, SHA-256, the broker's names as subjectAltName (what clients check), the keys
readable by their owner only. ``prognos cloud broker-ca`` runs it.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SiteCa", "make_site_ca"]


@dataclass(frozen=True, slots=True)
class SiteCa:
    ca_cert: Path  # give to every client as its ca_file
    ca_key: Path  # keep offline: it signs new broker certificates
    server_cert: Path  # the broker's certfile
    server_key: Path  # the broker's keyfile


def _san(hosts: list[str]) -> str:
    names = []
    for h in hosts:
        try:
            ipaddress.ip_address(h)
            names.append(f"IP:{h}")
        except ValueError:
            names.append(f"DNS:{h}")
    return "subjectAltName=" + ",".join(names)


def make_site_ca(out: Path, hosts: list[str], *, days: int = 825, name: str = "prognos site CA") -> SiteCa:
    """A new CA in ``out`` and a broker certificate for ``hosts`` signed by it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl is not installed (Debian: apt-get install openssl)")
    if not hosts:
        raise ValueError("give the broker's host names or addresses (--host)")
    out.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        proc = subprocess.run([openssl, *args], cwd=out, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()[-300:]}")

    key = ("-newkey", "rsa:3072", "-sha256", "-nodes")
    run("req", "-x509", *key, "-days", str(days), "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    run("req", *key, "-subj", f"/CN={hosts[0]}", "-keyout", "server.key", "-out", "server.csr")
    (out / "server.ext").write_text(f"{_san(hosts)}\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-sha256", "-days", str(days), "-extfile", "server.ext", "-out", "server.pem")  # fmt: skip
    for tmp in ("server.csr", "server.ext", "ca.srl"):
        (out / tmp).unlink(missing_ok=True)
    for key in ("ca.key", "server.key"):
        (out / key).chmod(0o600)
    return SiteCa(out / "ca.pem", out / "ca.key", out / "server.pem", out / "server.key")
