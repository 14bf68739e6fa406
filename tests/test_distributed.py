import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from fcn_lesson import checkpoints, data, models


def test_torchrun_two_cpu_processes_end_identical_and_rank0_checkpoints(tmp_path, scenes):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = Path(__file__).with_name("ddp_worker.py")
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             str(worker), str(scenes), str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name, tensor in rank0.items():
        assert torch.equal(tensor, rank1[name]), name
    model = models.FCN32s(len(data.CLASSES), backbone="mini")
    state = checkpoints.load_checkpoint(tmp_path / "fcn32s.pt", model)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert all(torch.equal(model.state_dict()[k], v) for k, v in rank0.items())
    torch.manual_seed(0)
    start = models.FCN32s(len(data.CLASSES), backbone="mini")  # the weights the workers started from
    assert not torch.equal(start.backbone.block1.conv1_1.weight, model.backbone.block1.conv1_1.weight)


def test_under_torchrun_rank_0_makes_the_scenes_before_the_other_ranks_look(tmp_path):
    """Two processes making one new scene folder at once would each find it filled by the other."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = Path(__file__).with_name("ddp_first_worker.py")
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             str(worker), str(tmp_path / "scenes"), str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0["left"] <= rank1["entered"]
    assert len(data.voc_dataset(tmp_path / "scenes", "train")) == 6
