"""Fetch the jars of a single-node Kafka broker from Maven Central, once, into a cache folder.

No Docker and no Apache download site here: Maven resolves `kafka_2.13` and every runtime jar it
needs (see kafka-pom.xml beside this file), which is all a KRaft broker needs to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from capi_devtools.errors import LocalInfraError

_POM = "kafka-pom.xml"


def cache_dir() -> Path:
    """`$SPOTIFY_CAPI_CACHE`, else `.cache` of the source checkout, else the user's cache."""
    configured = os.environ.get("SPOTIFY_CAPI_CACHE")
    if configured:
        return Path(configured).resolve()
    checkout = Path(__file__).resolve().parents[3]  # devtools/capi_devtools/localinfra/jars.py
    if (checkout / "pyproject.toml").is_file() and (checkout / "devtools").is_dir():
        return checkout / ".cache"
    return Path.home() / ".cache" / "spotify-capi-connector"


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LocalInfraError(
            f"'{name}' was not found on PATH: install {package} to run the local Kafka broker"
        )
    return path


def kafka_libs(cache: Path | None = None) -> Path:
    """The folder of broker jars, fetching them with Maven the first time."""
    libs = (cache or cache_dir()) / "kafka" / "libs"
    marker = libs / ".complete"
    if marker.is_file():
        return libs
    mvn = require_tool("mvn", "Maven 3 (e.g. apt-get install maven)")
    require_tool("java", "Java 17 (e.g. apt-get install openjdk-17-jre-headless)")
    libs.mkdir(parents=True, exist_ok=True)
    pom = resources.files("capi_devtools.localinfra").joinpath(_POM)
    with resources.as_file(pom) as pom_path:
        command = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom_path),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise LocalInfraError("Maven could not fetch the Kafka jars: " + " | ".join(tail))
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise LocalInfraError(f"Maven finished but no kafka_2.13 jar is in {libs}")
    marker.write_text("ok\n", encoding="utf-8")
    return libs
