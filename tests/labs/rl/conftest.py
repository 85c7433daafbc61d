import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The tensors here are a few thousand numbers at most; on a busy 2-core machine a second
    OpenMP thread turns each small kernel from microseconds into milliseconds. Module scope,
    so that module-scoped runs shared between tests get one thread too."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
