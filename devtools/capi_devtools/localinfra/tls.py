"""A throw-away certificate authority and a server certificate for 127.0.0.1 and localhost.

Made with the JDK's `keytool` (the broker needs a keystore and a truststore anyway), plus one
`openssl` call to take the server key out of the PKCS#12 keystore as PEM for Python servers.
Everything is for loopback tests: the store password is fixed and not a secret.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from capi_devtools.errors import LocalInfraError
from capi_devtools.localinfra.jars import require_tool

STORE_PASSWORD = "capi-local-store"  # noqa: S105 - protects throw-away loopback test keys only
_VALIDITY_DAYS = "2"
_KEY = ["-keyalg", "EC", "-groupname", "secp256r1"]  # EC: fast to make, fine for TLS 1.2/1.3
# Each keytool call is a JVM start: the client compiler and serial GC make it 3x faster.
_FAST_JVM = ["-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-J-Xshare:auto"]


@dataclass(frozen=True)
class TlsMaterial:
    ca_pem: Path  # the CA certificate: librdkafka's ssl.ca.location, a client's CA bundle
    keystore: Path  # PKCS#12: the server key and its chain (server cert, CA)
    truststore: Path  # PKCS#12: the CA only
    cert_pem: Path  # the server certificate (signed by the CA), PEM
    key_pem: Path  # the server private key, PEM, unencrypted
    password: str = STORE_PASSWORD


def make_tls_material(
    folder: Path,
    *,
    dns_names: tuple[str, ...] = ("localhost",),
    ips: tuple[str, ...] = ("127.0.0.1",),
) -> TlsMaterial:
    """Make a CA and a server certificate signed by it for these names, in `folder`."""
    keytool = require_tool("keytool", "a JDK (e.g. apt-get install openjdk-17-jre-headless)")
    openssl = require_tool("openssl", "OpenSSL (apt-get install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    ca_store, ca_pem = folder / "ca.p12", folder / "ca.pem"
    keystore, truststore = folder / "server.p12", folder / "truststore.p12"
    csr, cert_pem, key_pem = folder / "server.csr", folder / "server.pem", folder / "server.key"
    store = ["-storetype", "PKCS12", "-storepass", STORE_PASSWORD]
    for stale in (ca_store, ca_pem, keystore, truststore, csr, cert_pem, key_pem):
        stale.unlink(missing_ok=True)  # keytool adds to a store: start from nothing
    san = ",".join([*(f"dns:{n}" for n in dns_names), *(f"ip:{i}" for i in ips)])

    def tool(*args: str) -> None:
        _run([keytool, *_FAST_JVM, *args])

    tool("-genkeypair", "-alias", "ca", *_KEY, "-dname", "CN=capi-local-test-ca", "-ext", "bc:c",
         "-validity", _VALIDITY_DAYS, "-keystore", str(ca_store), *store)  # fmt: skip
    tool("-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), *store,
         "-file", str(ca_pem))  # fmt: skip
    tool("-genkeypair", "-alias", "server", *_KEY, "-dname", f"CN={dns_names[0]}",
         "-validity", _VALIDITY_DAYS, "-keystore", str(keystore), *store)  # fmt: skip
    tool("-certreq", "-alias", "server", "-keystore", str(keystore), *store, "-file", str(csr))
    tool("-gencert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), *store,
         "-infile", str(csr), "-outfile", str(cert_pem), "-validity", _VALIDITY_DAYS,
         "-ext", f"san={san}", "-ext", "ku:c=digitalSignature,keyAgreement",
         "-ext", "eku=serverAuth")  # fmt: skip
    # The reply must meet its CA in the keystore before it replaces the self-signed certificate.
    tool("-importcert", "-noprompt", "-alias", "ca", "-file", str(ca_pem),
         "-keystore", str(keystore), *store)  # fmt: skip
    tool("-importcert", "-noprompt", "-alias", "server", "-file", str(cert_pem),
         "-keystore", str(keystore), *store)  # fmt: skip
    tool("-importcert", "-noprompt", "-alias", "ca", "-file", str(ca_pem),
         "-keystore", str(truststore), *store)  # fmt: skip
    _run([openssl, "pkcs12", "-in", str(keystore), "-nocerts", "-nodes",
          "-passin", f"pass:{STORE_PASSWORD}", "-out", str(key_pem)])  # fmt: skip
    key_pem.chmod(0o600)
    return TlsMaterial(
        ca_pem=ca_pem, keystore=keystore, truststore=truststore, cert_pem=cert_pem, key_pem=key_pem
    )


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-2:]
        action = next(arg for arg in command[1:] if not arg.startswith("-J"))
        raise LocalInfraError(f"{Path(command[0]).name} {action} failed: {' | '.join(detail)}")
