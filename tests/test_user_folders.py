"""Tests stand alone: no user's config, roster or photo library leaks in (tests/conftest.py, user_folders)."""
import os
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from rules.config import Config, default_path, load_config


@pytest.fixture(scope="module")
def module_config_path() -> Path:
    """Module and session fixtures are built before a test's own folders: they must not see the user's either."""
    return default_path()


def test_config_and_data_folders_are_the_tests_own(user_folders, tmp_path_factory):
    assert "POSTGUARD_CONFIG" not in os.environ
    assert Path.home() == user_folders / "home"
    assert default_path() == user_folders / "config" / "postguard" / "config.toml"
    assert not default_path().exists()
    assert Config().data_dir == user_folders / "data" / "postguard"
    assert load_config().data_dir == user_folders / "data" / "postguard"
    base = tmp_path_factory.getbasetemp()
    for folder in (platformdirs.user_cache_dir("postguard"), platformdirs.user_state_dir("postguard")):
        assert Path(folder).is_relative_to(base)


def test_module_fixtures_see_no_user_folders_either(module_config_path, tmp_path_factory):
    assert module_config_path.is_relative_to(tmp_path_factory.getbasetemp())


def test_each_test_has_its_own(user_folders):
    """A config one test writes to the default place is not there for the next."""
    default_path().parent.mkdir(parents=True)
    default_path().write_text('[school]\npack = "mill-lane-primary"\n')
    assert load_config().school.pack == "mill-lane-primary"


def test_each_test_has_its_own_second(user_folders):
    assert not default_path().exists()
    assert load_config().school.pack == "default"


def test_subprocesses_inherit_them(user_folders):
    code = "from rules.config import default_path, Config; print(default_path()); print(Config().data_dir)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout.split("\n")
    assert Path(out[0]).is_relative_to(user_folders) and Path(out[1]).is_relative_to(user_folders)
