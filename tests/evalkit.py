"""Test-only helpers for the evaluation tests (the stand-in models and judge live in
hwlib.standins, which notebook 08 uses too)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine the threads'
    barriers cost far more than the math (import this fixture into a test module to use it)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
