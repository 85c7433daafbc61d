import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The tensors here are a few hundred numbers; on a busy 2-core machine a second OpenMP
    thread turns each small batched matmul from microseconds into milliseconds. Module scope:
    the module-scoped runs shared by several tests are built under it too."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
