"""docker/ checked statically: no Docker engine runs where mongozarr is developed.

What a real ``docker compose up`` needs and a typo would break: every image
pinned to a version, healthchecks where others wait on them, the replica-set
initiation, the bucket made with the S3 credentials, the cli's data volume,
and the test service wired to the suite's own environment variables.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML reads compose.yaml")

DOCKER = Path(__file__).resolve().parents[1] / "docker"
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_services_and_images_are_pinned(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"mongo", "s3", "s3-init", "cli", "test"}
    for name, service in services.items():
        if "build" in service:
            assert "image" not in service, name
            # The context is relative to compose.yaml, the dockerfile to the context.
            context = (DOCKER / service["build"]["context"]).resolve()
            assert context == DOCKER.parent, name
            dockerfile = (context / service["build"]["dockerfile"]).read_text()
            assert re.search(rf"^FROM \S+ AS {service['build']['target']}$", dockerfile, re.M), name
            continue
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned"
        assert not repository.startswith("minio/minio"), "minio/minio is no longer published"
    assert services["mongo"]["image"].split(":")[1].startswith("8.")
    dockerfile = (DOCKER / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.M)
    for line in re.findall(r"^FROM (\S+)", dockerfile, re.M):
        if line not in stages:  # an outside image, not an earlier stage of this file
            assert re.search(r":\d+\.\d+", line), line


def test_long_running_servers_have_healthchecks_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("mongo", "s3"):
        check = services[name]["healthcheck"]
        assert check["test"][0] == "CMD" and check["retries"] >= 10, name
        mounts = [v.split(":")[1] for v in services[name]["volumes"]]
        assert "/data/db" in mounts if name == "mongo" else "/data" in mounts
        named = [v.split(":")[0] for v in services[name]["volumes"] if not v.startswith(".")]
        assert all(volume in compose["volumes"] for volume in named), name
        for port in services[name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_mongo_runs_as_a_replica_set_initiated_idempotently(compose: dict[str, Any]) -> None:
    mongo = compose["services"]["mongo"]
    command = mongo["command"]
    replica_set = command[command.index("--replSet") + 1]
    script = mongo["healthcheck"]["test"][-1]
    initiate = re.search(r'rs\.initiate\(\{_id: "(\w+)", members: \[\{_id: 0, host: "([\w.:-]+)"\}\]\}\)', script)
    assert initiate and initiate[1] == replica_set
    # Only when the server says it has no replica set config yet: a second run does nothing.
    assert script.index("rs.status()") < script.index('"NotYetInitialized"') < initiate.start()
    assert "isWritablePrimary" in script  # healthy only once writes work
    # The member's host is localhost: every client must connect directly.
    test_uri = _env(compose["services"]["test"])["MONGOZARR_TEST_URI"]
    assert f"replicaSet={replica_set}" in test_uri and "directConnection=true" in test_uri
    assert "directConnection=true" in _env(compose["services"]["cli"])["MONGOZARR_URI"]


def test_bucket_is_made_with_the_servers_credentials(compose: dict[str, Any]) -> None:
    services = compose["services"]
    init = services["s3-init"]
    assert init["depends_on"] == {"s3": {"condition": "service_healthy"}}
    env = _env(init)
    identities = json.loads((DOCKER / "seaweedfs-s3.json").read_text())["identities"]
    keys = {(c["accessKey"], c["secretKey"]) for i in identities for c in i["credentials"]}
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) in keys
    assert env["AWS_ENDPOINT_URL"] == "http://s3:8333"
    assert "-s3.port=8333" in services["s3"]["command"]
    config_mount = [v for v in services["s3"]["volumes"] if v.startswith("./seaweedfs-s3.json:")]
    assert config_mount and f"-s3.config={config_mount[0].split(':')[1]}" in services["s3"]["command"]
    script = " ".join(init["command"])
    assert "head-bucket --bucket lab" in script and "create-bucket --bucket lab" in script


def test_cli_keeps_its_output_in_a_mounted_directory(compose: dict[str, Any]) -> None:
    cli = compose["services"]["cli"]
    assert cli["working_dir"] == "/data"
    assert "./data:/data" in cli["volumes"]
    assert (DOCKER / "data" / ".gitignore").is_file()  # the directory exists in a checkout
    assert cli["depends_on"]["mongo"] == {"condition": "service_healthy"}
    assert cli["depends_on"]["s3-init"] == {"condition": "service_completed_successfully"}
    env = _env(cli)
    assert env["AWS_ENDPOINT_URL"] == "http://s3:8333"


def test_test_service_uses_the_suites_environment(compose: dict[str, Any]) -> None:
    test = compose["services"]["test"]
    env = _env(test)
    conftest = (TESTS / "conftest.py").read_text()
    for name in ("MONGOZARR_TEST_URI", "MONGOZARR_TEST_S3_ENDPOINT"):
        assert f'"{name}"' in conftest, f"the suite no longer reads {name}"
        assert env[name]
    assert env["MONGOZARR_TEST_S3_ENDPOINT"] == "http://s3:8333"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} <= set(env)
    assert test["depends_on"]["s3-init"] == {"condition": "service_completed_successfully"}
    dockerfile = (DOCKER / "Dockerfile").read_text()
    stage = dockerfile.split("AS test", 1)[1].split("\nFROM ", 1)[0]
    assert "COPY . ." in stage and '"pytest"' in stage
    # The suite reads files all over the checkout: none of them may be left out.
    ignored = {
        line.strip() for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in ("tests", "mongozarr", "docker", "notebooks", "benchmarks", ".github", "README.md", "*"):
        assert needed not in ignored, needed


def test_make_test_real_runs_the_suite_in_the_container() -> None:
    makefile = (DOCKER / "Makefile").read_text()
    target = re.search(r"^test-real:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert target and "--profile test run --rm" in target[1] and "test $(PYTEST_ARGS)" in target[1]
    assert "compose.yaml" in makefile
