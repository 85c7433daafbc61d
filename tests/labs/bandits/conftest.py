import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The batches here are a few thousand numbers: on a busy 2-core machine a second
    OpenMP thread turns each elementwise kernel from microseconds into milliseconds."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
