"""The production artefacts hold only what runs in production: the template's wheel and the image.

In them: the CLI (supplychain/), servers/, deployment/ and migrations/, with the library securemcp as a
dependency built from lib/securemcp. Never the dev authorization server (idp/), the fixture users and
their dev passwords (fixtures/), demo/, bench/, loadtest/ or tests/: each test fails when one is added
back, to pyproject.toml's wheel packages or to what the production image copies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.tenants import DEV_PASSWORDS
from tests.deploy.artefacts import DEV_ONLY, build_wheel, builder_context, names, texts
from tests.deploy.compose import REPO
from tests.deploy.dockerfile import built_from, copy_source, stage, stages

PRODUCTION_PACKAGES = {"deployment", "supplychain", "servers", "migrations"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(REPO, tmp_path_factory.mktemp("wheel"))


def _top_level(sources: list[str]) -> set[str]:
    return {source.removeprefix("./").split("/")[0] for source in sources}


def test_the_wheel_holds_the_production_packages_and_nothing_else(wheel: Path) -> None:
    top = {name.split("/")[0] for name in names(wheel)}
    assert top - PRODUCTION_PACKAGES == {f"{wheel.name.split('-py3')[0]}.dist-info"}
    assert top & PRODUCTION_PACKAGES == PRODUCTION_PACKAGES
    assert not top & set(DEV_ONLY)


def test_the_wheel_holds_no_dev_password_of_the_fixture_users(wheel: Path) -> None:
    assert len(DEV_PASSWORDS) >= 7  # the strings looked for: one per fixture user
    found = {(name, password) for name, text in texts(wheel).items() for password in DEV_PASSWORDS.values()
             if password in text}  # fmt: skip
    assert found == set()


def test_the_wheel_carries_the_gateway_templates_gateway_render_reads(wheel: Path) -> None:
    templates = {f"supplychain/gateway_templates/{path.name}" for path in (REPO / "deploy" / "gateway").iterdir()}
    assert {"supplychain/gateway_templates/haproxy.cfg"} < templates <= set(names(wheel))


def test_the_production_image_copies_no_dev_tool_fixture_or_test() -> None:
    production = built_from("runtime")  # the default target and every stage whose work it holds
    assert {candidate.name for candidate in production} == {"runtime", "base", "builder"}
    sources = [
        source
        for candidate in production
        for origin, paths in map(copy_source, candidate.arguments("COPY") + candidate.arguments("ADD"))
        if origin is None
        for source in paths
    ]
    assert {"supplychain", "servers", "deployment", "migrations", "lib"} <= _top_level(sources)
    assert _top_level(sources) & set(DEV_ONLY) == set()


def test_only_the_dev_target_holds_the_dev_authorization_server_and_the_fixtures() -> None:
    assert stages()[-1].name == "runtime" and "dev" not in {candidate.name for candidate in built_from("runtime")}
    dev_sources = [path for arguments in stage("dev").arguments("COPY") for path in copy_source(arguments)[1]]
    assert _top_level([path for path in dev_sources if not path.startswith("/")]) == {"idp", "fixtures"}


def test_the_image_builds_the_same_wheels_from_what_its_builder_copies(wheel: Path, tmp_path: Path) -> None:
    context = builder_context(tmp_path / "context")
    assert not {path.name for path in context.iterdir()} & set(DEV_ONLY)
    assert sorted(names(build_wheel(context, tmp_path / "dist"))) == sorted(names(wheel))
    library = build_wheel(context / "lib" / "securemcp", tmp_path / "dist", distribution="securemcp")
    assert {name.split("/")[0] for name in names(library)} == {
        "securemcp",
        library.name.split("-py3")[0] + ".dist-info",
    }
