import pytest
import torch

from fcn_lesson import data, recipe
from fcn_lesson.models import FCN8s


def test_quick_mode_is_on_in_the_tests():
    assert recipe.QUICK and recipe.default_recipe("cpu") is recipe.QUICK_RECIPE
    assert recipe.CPU.fcn8_epochs > recipe.QUICK_RECIPE.fcn8_epochs
    assert recipe.GPU.fcn8_epochs >= recipe.CPU.fcn8_epochs
    assert recipe.RECIPES == {"cpu": recipe.CPU, "gpu": recipe.GPU, "quick": recipe.QUICK_RECIPE}


def test_shape_crops_dataset():
    crops = recipe.ShapeCrops(4, 32, seed=0, train=False)
    image, label = crops[0]
    assert len(crops) == 4 and image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert 0 <= int(label) < len(data.CLASSES) - 1


def test_staged_training_writes_and_reuses_checkpoints(tmp_path, scenes):
    quick = recipe.QUICK_RECIPE
    first = recipe.train_staged(quick, tmp_path, root=scenes, progress=False)
    assert list(first) == ["classifier", "fcn32s", "fcn16s", "fcn8s"]
    for stage in first:
        assert (tmp_path / f"{stage}.pt").exists()
    # FCN-16s started from FCN-32s: their shared backbone moved on from where 32s ended
    assert first["fcn8s"]["history"][-1]["val_mean_iu"] >= 0
    again = recipe.train_staged(quick, tmp_path, root=scenes, progress=False)
    for stage in first:  # nothing retrained: the checkpoints already hold every epoch
        assert again[stage]["history"] == first[stage]["history"]
    loaded = recipe.load_trained(FCN8s, tmp_path / "fcn8s.pt", quick.layout)
    for name, tensor in first["fcn8s"]["model"].state_dict().items():
        assert torch.equal(tensor.cpu(), loaded.state_dict()[name])


def test_alternative_trainings(tmp_path, scenes):
    import pytest

    quick = recipe.QUICK_RECIPE
    at_once = recipe.train_alternative(quick, tmp_path, "at_once", root=scenes, progress=False)
    assert at_once["model"].skip_scales == (0.01, 0.0001)
    epochs = quick.fcn32_epochs + quick.fcn16_epochs + quick.fcn8_epochs
    assert len(at_once["history"]) == epochs and (tmp_path / "fcn8s_at_once.pt").exists()
    with pytest.raises(ValueError, match="at_once' or 'scratch"):
        recipe.train_alternative(quick, tmp_path, "twice", root=scenes)


def test_each_recipe_has_its_own_cache_and_scenes():
    assert recipe.cache_dir(recipe.CPU) != recipe.cache_dir(recipe.QUICK_RECIPE)
    assert recipe.cache_dir(recipe.CPU).parent == data.default_root().parent
    assert recipe.QUICK_RECIPE.dataset != recipe.CPU.dataset == recipe.GPU.dataset


def test_the_same_recipe_gives_the_same_classifier():
    torch.manual_seed(123)  # whatever ran before must not matter
    first, _ = recipe.train_classifier(recipe.QUICK_RECIPE, progress=False)
    torch.rand(5)
    second, _ = recipe.train_classifier(recipe.QUICK_RECIPE, progress=False)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name


def test_the_shipped_reference_models_load_into_the_current_models():
    for name in recipe.REFERENCE_MODELS:
        model, history = recipe.load_reference(name)
        assert not model.training and history and all("val_mean_iu" in h for h in history), name
    at_once, _ = recipe.load_reference("fcn8s_at_once")
    assert at_once.skip_scales == (0.01, 0.0001)
    staged, history = recipe.load_reference("fcn8s")
    assert staged.skip_scales == (1.0, 1.0) and len(history) == recipe.CPU.fcn8_epochs
    with pytest.raises(ValueError, match="no reference model"):
        recipe.load_reference("fcn4s")
