import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tensors here are small: a second thread only adds synchronisation on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
