"""Shared test set-up: quick mode, deterministic single-threaded torch, a small generated dataset,
a machine without network."""
import os
import urllib.error
import urllib.request

os.environ["FCN_LESSON_QUICK"] = "1"  # before fcn_lesson.recipe is imported: every schedule shrinks

import pytest  # noqa: E402
import torch  # noqa: E402

from fcn_lesson import data  # noqa: E402


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def scenes(tmp_path_factory):
    """A small generated dataset in VOC layout (the root that holds VOCdevkit/)."""
    return data.make_dataset(tmp_path_factory.mktemp("shapes"), train=6, val=4, size=64, seed=3)


@pytest.fixture(scope="session")
def quick_scenes(tmp_path_factory):
    """The quick recipe's scenes (what its plans train on; other scenes in a user's folder are refused)."""
    from fcn_lesson.recipe import QUICK

    return data.make_dataset(tmp_path_factory.mktemp("quick-shapes"), train=QUICK.train_scenes,
                             val=QUICK.val_scenes, size=QUICK.scene_size, seed=QUICK.scene_seed)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and nothing in torch's cache: every download fails as it does on an offline machine."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "urlopen", refuse)  # torch.hub imported the name for itself
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
