import pytest
import torch

from inverse3d.common.datatypes import get_device, make_device


def test_make_device():
    assert make_device("cpu") == torch.device("cpu")
    assert make_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(TypeError, match="device must be a str or torch.device; got int"):
        make_device(3)


def test_get_device():
    assert get_device(torch.zeros(1)) == torch.device("cpu")
    assert get_device([1.0]) == torch.device("cpu")
    assert get_device(torch.zeros(1), "cpu") == torch.device("cpu")


@pytest.mark.cuda
def test_cuda_gets_index():
    assert make_device("cuda").index == torch.cuda.current_device()
    assert get_device(torch.zeros(1, device="cuda")).type == "cuda"
