"""The lock file: every package pyproject.toml names (its own ranges, the test extra included) is
pinned in requirements.lock at a version its range allows, with hashes, and the tests run on those
versions (`make setup` installs the lock; `make lock` rewrites it from pyproject.toml)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from helpers import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = (REPO_ROOT / "requirements.lock").read_text(encoding="utf-8")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*)", re.M)


def pins(text: str) -> dict[str, tuple[Version, int]]:
    """Package (canonical name) -> (pinned version, number of hashes) of a lock file's text."""
    found = {}
    for name, version, hashes in PIN.findall(text):
        assert canonicalize_name(name) not in found, f"{name} pinned twice"
        found[canonicalize_name(name)] = (Version(version), hashes.count("--hash="))
    return found


LOCKED = pins(LOCK)
DECLARED = [
    Requirement(r) for r in PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]
]


def test_every_line_of_the_lock_is_an_exact_pin_with_hashes():
    lines = [line for line in LOCK.splitlines() if line.strip() and not line.lstrip().startswith(("#", "--hash="))]
    assert len(lines) == len(LOCKED) > len(DECLARED), [line for line in lines if "==" not in line]
    assert all(hashes > 0 for _, hashes in LOCKED.values()), [n for n, (_, h) in LOCKED.items() if h == 0]


@pytest.mark.parametrize("requirement", DECLARED, ids=str)
def test_each_dependency_is_pinned_within_its_range(requirement):
    name = canonicalize_name(requirement.name)
    assert name in LOCKED, f"{requirement} is not in requirements.lock: run `make lock`"
    version, _ = LOCKED[name]
    assert requirement.specifier.contains(version, prereleases=True), (
        f"requirements.lock pins {name}=={version}, outside pyproject.toml's {requirement}: run `make lock`"
    )


@pytest.mark.parametrize("requirement", [r for r in DECLARED if r.extras], ids=str)
def test_what_a_dependency_extra_brings_is_pinned_too(requirement):
    """``mesa[rec]``: the packages the extra adds (from the installed package's metadata)."""
    for extra in requirement.extras:
        for line in metadata.requires(requirement.name) or []:
            needed = Requirement(line)
            if needed.marker is None or not needed.marker.evaluate({"extra": extra}):
                continue
            if needed.marker.evaluate({"extra": ""}):
                continue  # not the extra's own: a platform marker that holds here anyway
            name = canonicalize_name(needed.name)
            assert name in LOCKED, f"{needed} ({requirement}) is not in requirements.lock: run `make lock`"
            assert needed.specifier.contains(LOCKED[name][0], prereleases=True), (needed, LOCKED[name])


def test_the_tests_run_on_the_locked_versions():
    """The environment is the lock's (`make setup` installs it): each package at its pinned version."""
    wrong = {}
    for name, (version, _) in LOCKED.items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (str(version), installed and str(installed))
    assert not wrong, f"installed versions differ from requirements.lock (pinned, installed): {wrong}; run `make setup`"


def test_the_lock_reader_counts_hashes_and_refuses_a_package_pinned_twice():
    text = "a==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\nb==2\n"
    assert pins(text) == {"a": (Version("1.0"), 1), "b": (Version("2"), 0)}
    with pytest.raises(AssertionError, match="pinned twice"):
        pins("A_b==1\na-b==2\n")
