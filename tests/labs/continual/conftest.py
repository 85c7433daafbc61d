import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tensors here are tiny: a second thread only adds synchronisation, which on a
    busy 2-core machine costs far more than the arithmetic."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
