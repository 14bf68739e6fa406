"""Shared test set-up: deterministic, single-threaded torch (tests may run beside other jobs)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    torch.set_num_threads(1)
